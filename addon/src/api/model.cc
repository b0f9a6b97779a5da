// chori::Model, the C++ front end: what js/model.js does for Node (validate the options, read
// and check the metadata, resolve `optimize`, configure, prepare on the inference thread), on
// the same core, so both front ends run the same code between the bytes and the logits.
#include "chori/chori.h"

#include <algorithm>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "api/metadata.h"
#include "image/versions.h"
#include "model/classifier.h"
#include "model/runtime.h"

#ifndef CHORI_VERSION
#error "CHORI_VERSION must be defined by the build (package.json's version)"
#endif

namespace chori {
namespace {

constexpr int kWarmupRuns = 3;  // js/optimize.js WARMUP_RUNS

// "2.14.1+cu130" → "2.14.1": a local build tag does not change the release (js/versions.js).
std::string torchRelease(const std::string& version) { return version.substr(0, version.find('+')); }

void validate(const LoadOptions& options) {
  if (options.workers < 1 || options.workers > 64) {
    throw Error(code::kInvalidArgument, "workers must be between 1 and 64, not " + std::to_string(options.workers));
  }
  if (options.threads < 0) {
    throw Error(code::kInvalidArgument, "threads must be 0 (all cores) or a positive integer, not " + std::to_string(options.threads));
  }
  if (options.precision != "fp32" && options.precision != "bf16") {
    throw Error(code::kInvalidArgument, "precision must be fp32 or bf16, not '" + options.precision + "'");
  }
  if (options.optimize != "auto") {
    try {
      model::parseOptimization(options.optimize);
    } catch (const Error&) {
      throw Error(code::kInvalidArgument, "optimize must be one of auto, none, freeze, ofi, onednn, not '" + options.optimize + "'");
    }
  }
}

}  // namespace

struct Model::Impl {
  std::vector<std::string> labels;
  ModelInfo info;
  std::unique_ptr<model::Classifier> classifier;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, const LoadOptions& options) {
  validate(options);
  model::LoadOptions backendOptions;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = options.threads > 0 ? options.threads : std::max(1, cores / options.workers);
  backendOptions.threads = threads;
  backendOptions.workers = options.workers;
  backendOptions.precision = options.precision == "bf16" ? model::Precision::BFloat16 : model::Precision::Float32;
  backendOptions.device = model::parseDevice(options.device);
  backendOptions.deterministic = options.deterministic;
  auto impl = std::make_unique<Impl>();
  impl->classifier = std::make_unique<model::Classifier>(model::load(path, backendOptions));
  api::Metadata metadata = api::parseMetadata(impl->classifier->metadataJson(), path);
  impl->labels = metadata.labels;

  model::ClassifierConfig config;
  config.input = metadata.input;
  config.decode.applyExifOrientation = metadata.exifOrientation;
  if (options.maxPixels > 0) config.decode.maxPixels = options.maxPixels;
  config.batch.maxBatch = 1;  // one image per forward: the bit-exact default, as in Node
  config.batch.workers = options.workers;
  config.numClasses = static_cast<int64_t>(metadata.labels.size());
  config.outputsAreProbabilities = metadata.outputsAreProbabilities;
  impl->classifier->configure(config);

  const auto [height, width] = api::staticInputSize(metadata.input);
  const bool fixedSize = height > 0;
  ModelInfo& info = impl->info;
  info.format = impl->classifier->format();
  info.requestedOptimize = options.optimize;
  const std::string linked = model::runtimeInfo().torchVersion;
  const bool releaseDiffers = !metadata.torchVersion.empty() && torchRelease(metadata.torchVersion) != torchRelease(linked);
  if (info.format == std::string("pt2")) {
    // Compiled: no passes apply, and the kernels only run on the libtorch they were built for
    // (js/model.js checkPackage).
    if (options.optimize != "auto" && options.optimize != "none") {
      throw Error(code::kInvalidArgument, "optimize '" + options.optimize + "' does not apply to " + path +
                                              ": a .pt2 package is optimised when it is compiled (use auto or none)");
    }
    if (releaseDiffers) {
      throw Error(code::kModelLoad, path + " was compiled with torch " + metadata.torchVersion + " and chori runs libtorch " +
                                        linked + ": a .pt2 package only runs on the torch release it was compiled with");
    }
    info.optimize = "none";
  } else {
    // oneDNN Graph is a CPU pass: on a GPU 'auto' is 'freeze' (js/optimize.js).
    const bool onCpu = !backendOptions.device.cuda;
    info.optimize = options.optimize != "auto" ? options.optimize : fixedSize && onCpu ? "onednn" : "freeze";
  }
  info.device = model::deviceName(backendOptions.device);
  info.precision = options.precision;
  info.threads = threads;
  info.workers = options.workers;
  info.warmupRuns = fixedSize ? kWarmupRuns : 0;
  const std::vector<int64_t> warmupShape = fixedSize ? std::vector<int64_t>{1, 3, height, width} : std::vector<int64_t>{};
  const auto report = impl->classifier->optimize(model::parseOptimization(info.optimize), warmupShape, info.warmupRuns);
  info.optimizeMs = report.optimizeMs;
  info.warmupMs = report.warmupMs;

  if (releaseDiffers) {
    info.warnings.push_back(path + " was exported with torch " + metadata.torchVersion + " but chori runs libtorch " +
                            linked + ": it loads and runs, but bit-exact parity with the golden set is only promised "
                            "for the same torch release");
  }
  return Model(std::move(impl));
}

Prediction Model::predict(const std::vector<uint8_t>& bytes, int topk) const {
  model::Classifier& classifier = *impl_->classifier;
  // As the N-API worker does: announced while decoding, so a batching inference thread would
  // know a companion is coming (with batching off it never waits).
  classifier.batcher().announce();
  model::Preprocessed input;
  try {
    input = classifier.preprocess(bytes);
  } catch (...) {
    classifier.batcher().withdraw();
    throw;
  }
  std::promise<model::RowResult> promise;
  auto future = promise.get_future();
  classifier.batcher().submit(std::move(input.data), input.height, input.width,
                              [&promise](model::RowResult row) { promise.set_value(std::move(row)); });
  model::RowResult row = future.get();
  if (row.error) std::rethrow_exception(row.error);

  Prediction p;
  for (const auto& r : model::rank(row.probabilities, topk)) {
    p.topk.push_back({impl_->labels[r.index], r.index, r.score});
  }
  p.label = p.topk.front().label;
  p.index = p.topk.front().index;
  p.score = p.topk.front().score;
  p.logits = std::move(row.logits);
  p.inferenceMs = row.inferenceMs;
  return p;
}

Prediction Model::predictFile(const std::string& path, int topk) const {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(code::kInvalidArgument, "cannot read '" + path + "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw Error(code::kInvalidArgument, "cannot read '" + path + "'");
  return predict(bytes, topk);
}

const std::vector<std::string>& Model::labels() const { return impl_->labels; }
const ModelInfo& Model::info() const { return impl_->info; }
const std::string& Model::metadataJson() const { return impl_->classifier->metadataJson(); }

Versions versions() {
  const auto images = image::libraryVersions();
  return {CHORI_VERSION, model::runtimeInfo().torchVersion, images.libjpegTurbo, images.libpng, images.libwebp};
}

}  // namespace chori
