// The AOTInductor backend: a .pt2 package (torch.export + AOTInductor, `chori export --format
// pt2`) holds the model compiled to a shared object; torch::inductor::AOTIModelPackageLoader
// extracts and dlopens it. The only file that includes the AOTI headers.
#include <caffe2/serialize/inline_container.h>
#include <dlfcn.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <ATen/Context.h>
#include <mutex>

#include "chori/error.h"
#include "model/backend.h"
#include "model/torch_util.h"

#ifndef CHORI_LIBTORCH_DIR
#error "CHORI_LIBTORCH_DIR must name the libtorch the build links (binding.gyp, CMakeLists.txt)"
#endif

namespace chori::model {
namespace {

using detail::brief;
using detail::msSince;

constexpr const char* kModelName = "model";  // aoti_compile_and_package's default

// The compiled model.so lists libtorch.so among its needed libraries without a search path, so
// the dynamic linker only finds it when it is loaded already: load it, once, from the libtorch
// this addon was built against. (In a CUDA build libtorch.so pulls in libtorch_cuda.so, so a
// process that loads a .pt2 maps the CUDA libraries; a TorchScript-only process never does.)
void loadLibtorch() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    const std::string path = std::string(CHORI_LIBTORCH_DIR) + "/lib/libtorch.so";
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) failure = dlerror();
  });
  if (!failure.empty()) throw Error(code::kModelLoad, "a .pt2 package needs libtorch.so, which did not load: " + failure);
}

std::string readRecord(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name) {
  if (!reader.hasRecord(name)) return "";
  auto [data, size] = reader.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

// Instruction sets in the order Inductor's CPU code generator picks them (AOTI_CPU_ISA in the
// package's metadata is the one the compiled kernels use; at::get_cpu_capability() is the
// best one this CPU has).
int isaRank(const std::string& isa) {
  if (isa == "AVX512") return 2;
  if (isa == "AVX2") return 1;
  return 0;  // DEFAULT, or an ISA without vector kernels
}

// Refuses what would crash or fail later, with the reason: kernels for another device or
// machine, or for instructions this CPU lacks (the compiler was run with -march=native).
void checkRunnableHere(const std::string& path, const std::unordered_map<std::string, std::string>& meta) {
  auto value = [&](const char* key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  const std::string device = value("AOTI_DEVICE_KEY");
  if (!device.empty() && device != "cpu") {
    throw Error(code::kModelLoad, "'" + path + "' was compiled for " + device +
                                      ", not the CPU: export it again with `chori export --format pt2` on a CPU");
  }
  const std::string machine = value("AOTI_MACHINE");
#if defined(__x86_64__)
  const char* here = "x86_64";
#elif defined(__aarch64__)
  const char* here = "aarch64";
#else
  const char* here = "";
#endif
  if (!machine.empty() && machine != here) {
    throw Error(code::kModelLoad, "'" + path + "' was compiled for " + machine + ", this machine is " + here);
  }
  const std::string isa = value("AOTI_CPU_ISA");
  const std::string capability = at::get_cpu_capability();
  if (isaRank(isa) > isaRank(capability)) {
    throw Error(code::kModelLoad, "'" + path + "' was compiled for " + isa + " and this CPU only runs " + capability +
                                      " kernels: export it again on (or for) this kind of machine");
  }
}

class AotiBackend final : public Backend {
 public:
  AotiBackend(std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader, std::string metadata, int threads)
      : loader_(std::move(loader)), metadata_(std::move(metadata)), threads_(threads) {}

  const std::string& metadataJson() const override { return metadata_; }
  const char* format() const override { return "pt2"; }

  // The passes were compiled in at export time; only the warm-up remains (the first run
  // allocates the package's buffers and starts the OpenMP team).
  OptimizeReport optimize(Optimization form, const std::vector<int64_t>& warmupShape, int warmupRuns) override {
    if (form != Optimization::None) {
      throw Error(code::kModelLoad, std::string("optimize '") + optimizationName(form) +
                                        "' does not apply to a .pt2 package: its graph was optimised when it was compiled");
    }
    OptimizeReport report;
    if (warmupShape.size() == 4) {
      const auto start = std::chrono::steady_clock::now();
      Batch zeros{warmupShape[0], warmupShape[2], warmupShape[3], {}};
      zeros.data.assign(static_cast<size_t>(zeros.n * 3 * zeros.height * zeros.width), 0.0f);
      detail::translated(code::kModelLoad, "warm-up failed", [&] {
        for (int i = 0; i < warmupRuns; ++i) run(zeros);
        return 0;
      });
      report.warmupMs = msSince(start);
    }
    return report;
  }

  Output forward(const Batch& batch, bool outputsAreProbabilities) const override {
    return detail::translated(code::kInference, "forward failed", [&] {
      auto outputs = run(batch);
      if (outputs.empty()) throw Error(code::kInference, "the model returned no tensor");
      return detail::toOutput(outputs.front(), batch.n, outputsAreProbabilities);
    });
  }

 private:
  std::vector<at::Tensor> run(const Batch& batch) const {
    detail::useThreads(batch.threads > 0 ? batch.threads : threads_);
    c10::InferenceMode guard;
    return loader_->run({detail::inputTensor(batch)});
  }

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;  // run() is const-safe per call
  std::string metadata_;
  int threads_;
};

}  // namespace

namespace detail {

std::unique_ptr<Backend> loadAoti(const std::string& path, const LoadOptions& options) {
  const std::string what = "cannot load '" + path + "' with libtorch " + TORCH_VERSION;
  if (options.precision != Precision::Float32) {
    throw Error(code::kInvalidArgument, "precision 'bf16' does not apply to a .pt2 package: its kernels were compiled "
                                        "for the dtype it was exported with");
  }
  if (options.device.cuda) {
    throw Error(code::kInvalidArgument, "device '" + deviceName(options.device) +
                                            "' does not apply to a .pt2 package: its kernels were compiled for the "
                                            "CPU (load the TorchScript artifact on the GPU instead)");
  }
  std::string metadata = translated(code::kModelLoad, what, [&] {
    caffe2::serialize::PyTorchStreamReader reader(path);
    return readRecord(reader, "extra/chori.json");
  });
  if (metadata.empty()) {
    throw Error(code::kModelMetadata, "'" + path +
                                          "' has no chori.json metadata: it is a .pt2 package, but was not written "
                                          "by `chori export --format pt2`");
  }
  auto packageMeta = translated(code::kModelLoad, what, [&] {
    return torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, kModelName);
  });
  checkRunnableHere(path, packageMeta);
  loadLibtorch();
  auto loader = translated(code::kModelLoad, what, [&] {
    // One runner per worker: a package's container lends each run() a runner, and with a
    // single one concurrent forwards would queue behind each other.
    return std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, kModelName, false,
                                                                     static_cast<size_t>(options.workers));
  });
  return std::make_unique<AotiBackend>(std::move(loader), std::move(metadata), options.threads);
}

}  // namespace detail
}  // namespace chori::model
