// What the libtorch backends share: brief messages from c10 errors, the input tensor over a
// Batch, the per-thread intra-op count, and the checked Output from a logits tensor. Included
// only by the backends (torchscript.cc, aoti.cc) and the artifact dispatch (load.cc).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <string>

#include "chori/error.h"
#include "model/backend.h"

namespace chori::model::detail {

// c10 messages carry a C++ backtrace; users need the first sentence only.
inline std::string brief(const std::string& what) { return what.substr(0, what.find('\n')); }
inline std::string brief(const c10::Error& e) { return brief(e.what_without_backtrace()); }

inline double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// OpenMP keeps the thread count per calling thread and each model has its own inference
// thread, so setting it there gives every model its own `threads`. (ATen may reset a thread's
// count from the process-wide value on its first parallel region; checking on every call puts
// it back.)
inline void useThreads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

// Borrows: `batch` outlives the forward and the result is copied out by toOutput().
inline at::Tensor inputTensor(const Batch& batch) {
  return at::from_blob(const_cast<float*>(batch.data.data()), {batch.n, 3, batch.height, batch.width}, at::kFloat);
}

inline std::string shapeOf(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// Throws chori::Error(CHORI_INFERENCE) when the model did not return n rows of scores.
inline Output toOutput(const at::Tensor& result, int64_t n, bool outputsAreProbabilities) {
  // A CUDA result is copied back here (synchronously, on the current stream); softmax then runs
  // on the CPU whatever the device, so the scores follow from the logits as on the CPU path.
  auto logits = result.to(at::kCPU).to(at::kFloat).contiguous();
  if (logits.dim() != 2 || logits.size(0) != n) {
    throw Error(code::kInference, "the model returned a tensor of shape " + shapeOf(logits) + ", expected [" +
                                      std::to_string(n) + ", classes]");
  }
  auto probabilities = outputsAreProbabilities ? logits : at::softmax(logits, 1).contiguous();
  Output out;
  out.n = logits.size(0);
  out.classes = logits.size(1);
  out.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
  out.probabilities.assign(probabilities.data_ptr<float>(), probabilities.data_ptr<float>() + probabilities.numel());
  return out;
}

// Runs `body`, turning what libtorch throws into chori::Error(`code`) prefixed with `what`.
template <typename F>
auto translated(const char* code, const std::string& what, F&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(code, what + ": " + brief(e));
  } catch (const std::exception& e) {
    throw Error(code, what + ": " + brief(e.what()));
  }
}

// The backends' loaders, chosen by load() (load.cc) from the artifact's contents.
std::unique_ptr<Backend> loadTorchScript(const std::string& path, const LoadOptions& options);
std::unique_ptr<Backend> loadAoti(const std::string& path, const LoadOptions& options);

}  // namespace chori::model::detail
