// The TorchScript backend (torch.jit.save artifacts) and its load-time passes.
#include <torch/csrc/jit/codegen/onednn/interface.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/version.h>

#include <mutex>

#include "chori/error.h"
#include "model/backend.h"
#include "model/placement.h"
#include "model/torch_util.h"

namespace chori::model {
namespace {

using detail::brief;
using detail::msSince;

constexpr const char* kMetadataFile = "chori.json";

// oneDNN Graph fusion is a pre-pass of the profiling executor, registered process-wide (what
// torch.jit.enable_onednn_fusion(True) does in Python). Registering it changes every graph the
// executor optimises from then on, which is why the other forms run with the executor's
// optimisations off (GraphOptimizerEnabledGuard is per thread): a model loaded with
// `optimize: 'none'` stays the plain graph whatever else the process has loaded.
void enableOneDnnFusion() {
  static std::once_flag once;
  std::call_once(once, [] { torch::jit::RegisterLlgaFuseGraph::setEnabled(true); });
}

// The `onednn` form's layout (python/chori_torch/optimize.py, channels_last): every 4-d parameter
// made channels-last in place before freezing, and the input made channels-last before each
// forward, so oneDNN runs the depthwise convolutions of light networks in their native layout.
void makeChannelsLast(torch::jit::Module& module) {
  torch::NoGradGuard noGrad;
  for (auto parameter : module.parameters()) {
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

class TorchScriptBackend final : public Backend {
 public:
  TorchScriptBackend(torch::jit::Module module, std::string metadata, torch::ScalarType dtype, int threads,
                     const Device& device)
      : module_(std::move(module)),
        metadata_(std::move(metadata)),
        dtype_(dtype),
        threads_(threads),
        placement_(device) {}

  const std::string& metadataJson() const override { return metadata_; }
  const char* format() const override { return "torchscript"; }

  OptimizeReport optimize(Optimization form, const std::vector<int64_t>& warmupShape, int warmupRuns) override {
    OptimizeReport report;
    try {
      auto start = std::chrono::steady_clock::now();
      applyPasses(form);
      placement_.synchronizeDevice();
      report.optimizeMs = msSince(start);
      if (warmupShape.size() == 4) {
        start = std::chrono::steady_clock::now();
        Batch zeros{warmupShape[0], warmupShape[2], warmupShape[3], {}};
        zeros.data.assign(static_cast<size_t>(zeros.n * 3 * zeros.height * zeros.width), 0.0f);
        placement_.onStream([&] {
          for (int i = 0; i < warmupRuns; ++i) run(zeros);
          placement_.synchronize();
          return 0;
        });
        report.warmupMs = msSince(start);
      }
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Error(code::kModelLoad, std::string("optimize '") + optimizationName(form) + "' failed: " + brief(e));
    } catch (const std::exception& e) {
      throw Error(code::kModelLoad, std::string("optimize '") + optimizationName(form) + "' failed: " + e.what());
    }
    return report;
  }

  double prepareSingleThreaded(const std::vector<int64_t>& warmupShape, int warmupRuns) override {
    if (!executorOptimizes_ || warmupShape.size() != 4 || placement_.cuda()) return 0;
    return detail::translated(code::kModelLoad, "optimize 'onednn' (one-thread copy) failed", [&] {
      const auto start = std::chrono::steady_clock::now();
      single_ = torch::jit::freeze(unfrozen_);
      unfrozen_ = torch::jit::Module();
      hasSingle_ = true;
      Batch zeros{warmupShape[0], warmupShape[2], warmupShape[3], {}, 1};
      zeros.data.assign(static_cast<size_t>(zeros.n * 3 * zeros.height * zeros.width), 0.0f);
      for (int i = 0; i < warmupRuns; ++i) run(zeros);
      return msSince(start);
    });
  }

  Output forward(const Batch& batch, bool outputsAreProbabilities) const override {
    try {
      // A CUDA out-of-memory error is a c10::Error too: it fails this call only, the tensors of
      // the failed forward are freed on the way out, and the next call allocates afresh.
      return placement_.onStream([&] {
        torch::jit::IValue result = run(batch);
        if (result.isTuple()) result = result.toTupleRef().elements().at(0);
        if (!result.isTensor()) throw Error(code::kInference, "the model returned " + result.tagKind() + ", not a tensor");
        return detail::toOutput(result.toTensor(), batch.n, outputsAreProbabilities);
      });
    } catch (const c10::Error& e) {
      throw Error(code::kInference, "forward failed: " + brief(e));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(code::kInference, std::string("forward failed: ") + e.what());
    }
  }

 private:
  // Same calls, same order as python/chori_torch/optimize.py.
  void applyPasses(Optimization form) {
    if (placement_.cuda()) {
      // oneDNN's passes are CPU passes; the front ends resolve 'auto' to 'freeze' on a GPU.
      if (form == Optimization::OptimizeForInference || form == Optimization::OneDnnFusion) {
        throw Error(code::kInvalidArgument, std::string("optimize '") + optimizationName(form) +
                                                "' is a CPU (oneDNN) form; on a CUDA device use none or freeze");
      }
      module_.to(placement_.device());  // before freezing, so the folded constants live there
    }
    if (dtype_ != torch::kFloat32) module_.to(dtype_);
    switch (form) {
      case Optimization::None:
        break;
      case Optimization::Freeze:
        module_ = torch::jit::freeze(module_);
        break;
      case Optimization::OptimizeForInference:
        module_ = torch::jit::optimize_for_inference(module_);  // freezes first, as in Python
        break;
      case Optimization::OneDnnFusion:
        enableOneDnnFusion();
        makeChannelsLast(module_);
        unfrozen_ = module_;  // freeze() works on a clone: this stays the unfrozen module
        module_ = torch::jit::freeze(module_);
        break;
    }
    executorOptimizes_ = form == Optimization::OneDnnFusion;
  }

  torch::jit::IValue run(const Batch& batch) const {
    const int threads = batch.threads > 0 ? batch.threads : threads_;
    detail::useThreads(threads);
    c10::InferenceMode guard;
    torch::jit::GraphOptimizerEnabledGuard executor(executorOptimizes_);
    auto& module = hasSingle_ && threads == 1 ? single_ : module_;
    auto input = placement_.upload(batch).to(dtype_);
    if (executorOptimizes_) input = input.contiguous(at::MemoryFormat::ChannelsLast);
    return module.forward({input});
  }

  // Module::forward is not const; the graph executor lets several workers run it at once.
  mutable torch::jit::Module module_;
  mutable torch::jit::Module single_;  // prepareSingleThreaded(): compiled for one thread
  torch::jit::Module unfrozen_;        // onednn: the module before freezing, until single_ is made
  bool hasSingle_ = false;
  std::string metadata_;
  torch::ScalarType dtype_;
  int threads_;
  bool executorOptimizes_ = false;  // set by optimize(), before the inference thread starts
  detail::Placement placement_;
};

}  // namespace

Optimization parseOptimization(const std::string& name) {
  for (auto form : {Optimization::None, Optimization::Freeze, Optimization::OptimizeForInference,
                    Optimization::OneDnnFusion}) {
    if (name == optimizationName(form)) return form;
  }
  throw Error(code::kModelLoad, "unknown optimization '" + name + "' (expected none, freeze, ofi or onednn)");
}

const char* optimizationName(Optimization form) {
  switch (form) {
    case Optimization::None:
      return "none";
    case Optimization::Freeze:
      return "freeze";
    case Optimization::OptimizeForInference:
      return "ofi";
    case Optimization::OneDnnFusion:
      return "onednn";
  }
  return "none";
}

namespace detail {

std::unique_ptr<Backend> loadTorchScript(const std::string& path, const LoadOptions& options) {
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
  // Converted by optimize(), on the inference thread (see Batcher::runOnInferenceThread).
  const auto dtype = options.precision == Precision::BFloat16 ? torch::kBFloat16 : torch::kFloat32;
  std::string metadata = extra[kMetadataFile];
  if (metadata.empty()) {
    throw Error(code::kModelMetadata, "'" + path +
                                          "' has no chori.json metadata: it is a TorchScript file, but was not "
                                          "written by `chori export`");
  }
  return std::make_unique<TorchScriptBackend>(std::move(module), std::move(metadata), dtype, options.threads,
                                              options.device);
}

}  // namespace detail

}  // namespace chori::model
