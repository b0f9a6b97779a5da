#include "model/loader.h"

#include <sched.h>

#include <algorithm>
#include <thread>

#include "chori/error.h"
#include "model/runtime.h"

namespace chori::model {
namespace {

// The executor profiles the first run and compiles on the second; the third runs the result.
constexpr int kWarmupRuns = 3;  // python/chori_torch/optimize.py WARMUP_RUNS
constexpr int kDefaultMaxBatch = 8;
// A GPU's forward costs about the same for 1 or 32 small images, so batches gather more there.
// Chosen, not measured: no GPU was at hand (tests/gpu/run.sh prints the curve to choose by).
constexpr int kDefaultCudaMaxBatch = 32;

// What Node's os.availableParallelism() says (libuv: the CPUs this process may run on).
int availableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

const char* precisionName(Precision p) { return p == Precision::BFloat16 ? "bf16" : "fp32"; }

// "2.14.1+cu130" → "2.14.1": a local build tag does not change the release.
std::string torchRelease(const std::string& version) { return version.substr(0, version.find('+')); }

void checkRange(bool ok, const std::string& message) {
  if (!ok) throw Error(code::kInvalidArgument, message);
}

// 'auto' → 'onednn' when the input size is static: fastest at batch 1 on every CNN measured
// (bench/forms.py) and bit-identical across processes and thread counts. oneDNN Graph compiles
// one fused graph per input shape, so a model whose input size follows the image gets 'freeze',
// whose answers do not depend on which shapes came first. oneDNN's forms are CPU passes: on a
// GPU 'auto' is 'freeze'. python/chori_torch/optimize.py applies the same rule.
std::string resolveOptimize(const std::string& requested, bool fixedSize, const Device& device) {
  if (requested != "auto") return requested;
  return fixedSize && !device.cuda ? "onednn" : "freeze";
}

// A .pt2 package is compiled: no load-time passes apply ('auto' means none), and its kernels were
// built against one libtorch, so another release is refused rather than warned about.
void checkPackage(const std::string& path, const std::string& requested, const Metadata& metadata,
                  const std::string& linked) {
  if (requested != "auto" && requested != "none") {
    throw Error(code::kInvalidArgument, "options.optimize '" + requested + "' does not apply to " + path +
                                            ": a .pt2 package is optimised when it is compiled (use 'auto' or 'none')");
  }
  if (!metadata.torchVersion.empty() && torchRelease(metadata.torchVersion) != torchRelease(linked)) {
    throw Error(code::kModelLoad, path + " was compiled with torch " + metadata.torchVersion +
                                      " and chori-torch's addon runs libtorch " + linked +
                                      ": a .pt2 package only runs on the torch release it was compiled with "
                                      "(export it again with torch " + torchRelease(linked) + ")");
  }
}

// The forms whose answers do not depend on the intra-op thread count (bench/forms.py
// --determinism: fresh processes at 1, 2, 4 and 16 threads, fp32 and bf16; resnet18, resnet50,
// mobilenet_v3_large, efficientnet_b0, the demo model). 'freeze' and 'none' differ on resnet50
// and mobilenet_v3_large in fp32, 'ofi' on resnet18.
bool threadCountInvariant(const std::string& form) { return form == "onednn"; }

struct Parallelism {
  int workers = 1, threads = 1;
  int adaptiveCores = 0;   // > 0: the scheduler picks each forward's threads (BatchOptions)
  int forwardThreads = 0;  // every forward's threads; 0: the backend's `threads`
};

// Neither workers nor threads given: the parallelism is load()'s to choose (docs/ARCHITECTURE.md,
// "Adaptive parallelism"). Only a TorchScript model on the CPU is scheduled: a .pt2 package's
// runners are sized when it loads, and on a GPU the cores do not run the forward.
Parallelism parallelism(bool scheduled, bool torchscript, const Device& device, const std::string& form, int cores,
                        int workers, int threads) {
  if (!scheduled || !torchscript || device.cuda) return {workers, threads, 0, 0};
  if (threadCountInvariant(form) && cores > 1) return {cores, cores, cores, 0};
  // One forward per core at one thread each: the thread count `chori golden` uses by default.
  return {cores, 1, 0, 1};
}

std::vector<LoadWarning> warningsFor(const std::string& path, const Metadata& metadata, Precision precision,
                                     const Device& device, const RuntimeInfo& runtime) {
  std::vector<LoadWarning> warnings;
  const std::string& exported = metadata.torchVersion;
  const std::string& linked = runtime.torchVersion;
  if (!exported.empty() && torchRelease(exported) != torchRelease(linked)) {
    warnings.push_back({"CHORI_TORCH_VERSION_MISMATCH",
                        path + " was exported with torch " + exported + " but chori-torch's addon runs libtorch " +
                            linked +
                            ": it loads and runs, but bit-exact parity with the golden set is only promised for "
                            "the same torch release (export it again with torch " + torchRelease(linked) +
                            ", or rebuild the addon against torch " + torchRelease(exported) + ")"});
  }
  if (precision == Precision::BFloat16 && !device.cuda && !runtime.nativeBf16) {
    warnings.push_back({"CHORI_BF16_EMULATED",
                        "precision 'bf16' on a CPU without AVX512_BF16 or AMX: bfloat16 is emulated here and runs "
                        "slower than fp32 (load with precision: 'fp32')"});
  }
  return warnings;
}

}  // namespace

void validate(const LoadRequest& r) {
  checkRange(!r.workers || (*r.workers >= 1 && *r.workers <= 64),
             "workers must be between 1 and 64, not " + std::to_string(r.workers.value_or(0)));
  checkRange(!r.threads || (*r.threads >= 1 && *r.threads <= 1024),
             "threads must be between 1 and 1024, not " + std::to_string(r.threads.value_or(0)));
  if (r.optimize != "auto") {
    try {
      parseOptimization(r.optimize);
    } catch (const Error&) {
      throw Error(code::kInvalidArgument, "optimize must be one of auto, none, freeze, ofi, onednn, not '" + r.optimize + "'");
    }
  }
  checkRange(!r.device.cuda || r.optimize == "auto" || r.optimize == "none" || r.optimize == "freeze",
             "optimize must be one of auto, none, freeze on " + deviceName(r.device) +
                 " (the other forms are oneDNN CPU passes), not '" + r.optimize + "'");
  checkRange(r.maxPixels >= 1, "maxPixels must be at least 1");
  checkRange(!r.maxBatch || (*r.maxBatch >= 1 && *r.maxBatch <= 256),
             "maxBatch must be between 1 and 256, not " + std::to_string(r.maxBatch.value_or(0)));
  checkRange(r.maxDelayMs >= 0 && r.maxDelayMs <= 1000, "maxDelayMs must be between 0 and 1000");
  checkRange(r.maxQueue >= 1 && r.maxQueue <= (1u << 20), "maxQueue must be between 1 and 1048576");
  checkRange(r.cores >= 0, "cores must be 0 (all) or more");
}

LoadedModel loadModel(const std::string& path, const LoadRequest& request) {
  validate(request);
  const int cores = request.cores > 0 ? request.cores : availableCores();
  const int workers = request.workers.value_or(1);
  // Several workers share the cores: by default each gets its part of them.
  const int threads = request.threads.value_or(std::max(1, cores / workers));
  const bool scheduled = !request.workers && !request.threads;

  // The precision the artifact records, read before the model, so that it loads and converts once.
  const Precision precision = request.precision.value_or(recordedPrecision(readMetadata(path)));
  LoadOptions backendOptions;
  backendOptions.threads = threads;
  backendOptions.precision = precision;
  backendOptions.workers = workers;
  backendOptions.device = request.device;
  backendOptions.deterministic = request.deterministic;
  LoadedModel loaded;
  loaded.classifier = std::make_unique<Classifier>(load(path, backendOptions));
  loaded.metadata = parseMetadata(loaded.classifier->metadataJson(), path);
  if (!request.precision && loaded.metadata.precision != precision) {
    throw Error(code::kModelLoad, "cannot read the precision of '" + path + "' before loading it");
  }
  const Metadata& metadata = loaded.metadata;

  const RuntimeInfo runtime = runtimeInfo();
  LoadInfo& info = loaded.info;
  info.format = loaded.classifier->format();
  const bool torchscript = info.format == "torchscript";
  const auto [height, width] = staticInputSize(metadata.input);
  const bool fixedSize = height > 0;
  if (!torchscript) checkPackage(path, request.optimize, metadata, runtime.torchVersion);
  info.optimize = torchscript ? resolveOptimize(request.optimize, fixedSize, request.device) : "none";
  info.requestedOptimize = request.optimize;
  info.warmupRuns = fixedSize ? kWarmupRuns : 0;
  const Parallelism run = parallelism(scheduled, torchscript, request.device, info.optimize, cores, workers, threads);

  ClassifierConfig config;
  config.input = metadata.input;
  config.decode.applyExifOrientation = metadata.exifOrientation;
  config.decode.maxPixels = request.maxPixels;
  const int maxBatch = request.maxBatch.value_or(request.device.cuda ? kDefaultCudaMaxBatch : kDefaultMaxBatch);
  // Off by default: oneDNN picks kernels by batch size, so a batched row differs from the batch-1
  // answer (and the golden set) in the last bits (docs/ARCHITECTURE.md, "Batching").
  config.batch.maxBatch = request.batch ? maxBatch : 1;
  config.batch.maxDelayMs = request.maxDelayMs;
  config.batch.background = request.background;
  config.batch.workers = run.workers;
  config.batch.adaptiveCores = run.adaptiveCores;
  config.batch.forwardThreads = run.forwardThreads;
  config.numClasses = static_cast<int64_t>(metadata.labels.size());
  config.outputsAreProbabilities = metadata.outputsAreProbabilities;
  loaded.classifier->configure(config);

  // On one of the inference threads just started (Batcher::runOnInferenceThread says why).
  const std::vector<int64_t> warmupShape = fixedSize ? std::vector<int64_t>{1, 3, height, width} : std::vector<int64_t>{};
  const OptimizeReport report = loaded.classifier->optimize(parseOptimization(info.optimize), warmupShape, info.warmupRuns);
  info.optimizeMs = report.optimizeMs;
  info.warmupMs = report.warmupMs;
  info.threads = run.threads;
  info.workers = run.workers;
  info.adaptive = run.adaptiveCores > 0;
  info.precision = precisionName(precision);
  info.maxBatch = config.batch.maxBatch;
  info.device = deviceName(request.device);
  info.deterministic = request.deterministic;
  info.warnings = warningsFor(path, metadata, precision, request.device, runtime);
  return loaded;
}

}  // namespace chori::model
