// The TorchScript backend: the only translation unit that includes libtorch.
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "model/backend.h"

namespace chori::model {
namespace {

constexpr const char* kMetadataFile = "chori.json";

// c10 messages carry a C++ backtrace; users need the first sentence only.
std::string brief(const c10::Error& e) {
  std::string msg = e.what_without_backtrace();
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

// A TorchScript file is a zip archive: check before libtorch does, so a text file, an empty
// file or a plain state_dict pickle gets a sentence instead of a parser error.
void checkArtifactFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(code::kModelLoad, "cannot open model file '" + path + "': " + std::strerror(errno));
  char magic[4] = {};
  file.read(magic, sizeof magic);
  if (file.gcount() != sizeof magic || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    throw Error(code::kModelLoad, "'" + path +
                                      "' is not a TorchScript artifact (expected a zip archive written by "
                                      "torch.jit.save; export one with `chori export`)");
  }
}

class TorchScriptBackend final : public Backend {
 public:
  TorchScriptBackend(torch::jit::Module module, std::string metadata, torch::ScalarType dtype, int threads)
      : module_(std::move(module)), metadata_(std::move(metadata)), dtype_(dtype), threads_(threads) {}

  const std::string& metadataJson() const override { return metadata_; }

  Output forward(const Batch& batch, bool outputsAreProbabilities) const override {
    try {
      // OpenMP keeps the thread count per calling thread and each model has its own inference
      // thread, so setting it here gives every model its own `threads`. (ATen may reset a
      // thread's count from the process-wide value on its first parallel region; checking on
      // every call puts it back.)
      if (threads_ > 0 && at::get_num_threads() != threads_) at::set_num_threads(threads_);
      c10::InferenceMode guard;
      // from_blob borrows: `batch` outlives the call and the result is copied out below.
      auto input = torch::from_blob(const_cast<float*>(batch.data.data()),
                                    {batch.n, 3, batch.height, batch.width}, torch::kFloat32)
                       .to(dtype_);
      torch::jit::IValue result = module_.forward({input});
      if (result.isTuple()) result = result.toTupleRef().elements().at(0);
      if (!result.isTensor()) throw Error(code::kInference, "the model returned " + result.tagKind() + ", not a tensor");
      auto logits = result.toTensor().to(torch::kFloat32).contiguous();
      if (logits.dim() != 2 || logits.size(0) != batch.n) {
        throw Error(code::kInference, "the model returned a tensor of shape " + shapeOf(logits) +
                                          ", expected [" + std::to_string(batch.n) + ", classes]");
      }
      auto probabilities = outputsAreProbabilities ? logits : torch::softmax(logits, 1).contiguous();
      Output out;
      out.n = logits.size(0);
      out.classes = logits.size(1);
      out.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
      out.probabilities.assign(probabilities.data_ptr<float>(),
                               probabilities.data_ptr<float>() + probabilities.numel());
      return out;
    } catch (const c10::Error& e) {
      throw Error(code::kInference, "forward failed: " + brief(e));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(code::kInference, std::string("forward failed: ") + e.what());
    }
  }

 private:
  static std::string shapeOf(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }

  mutable torch::jit::Module module_;  // Module::forward is not const; one thread calls it
  std::string metadata_;
  torch::ScalarType dtype_;
  int threads_;
};

}  // namespace

std::unique_ptr<Backend> load(const std::string& path, const LoadOptions& options) {
  checkArtifactFile(path);
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU, extra);
  } catch (const c10::Error& e) {
    throw Error(code::kModelLoad, "cannot load '" + path + "' with libtorch " + TORCH_VERSION + ": " + brief(e));
  } catch (const std::exception& e) {
    // The TorchScript importer also throws plain runtime errors (an unserialisable constant, say).
    throw Error(code::kModelLoad, "cannot load '" + path + "' with libtorch " + TORCH_VERSION + ": " + e.what());
  }
  module.eval();
  const auto dtype = options.precision == Precision::BFloat16 ? torch::kBFloat16 : torch::kFloat32;
  if (dtype != torch::kFloat32) module.to(dtype);
  std::string metadata = extra[kMetadataFile];
  if (metadata.empty()) {
    throw Error(code::kModelMetadata, "'" + path +
                                          "' has no chori.json metadata: it is a TorchScript file, but was not "
                                          "written by `chori export`");
  }
  return std::make_unique<TorchScriptBackend>(std::move(module), std::move(metadata), dtype, options.threads);
}

}  // namespace chori::model
