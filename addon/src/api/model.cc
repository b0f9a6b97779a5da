// chori::Model, the C++ front end: chori::LoadOptions → model::LoadRequest, then the one load
// step both front ends share (model/loader.h), then predictions on the same core, so Node and C++
// run the same code between the bytes and the logits.
#include "chori/chori.h"

#include <fstream>
#include <future>
#include <iterator>

#include "image/versions.h"
#include "model/classifier.h"
#include "model/loader.h"
#include "model/runtime.h"

#ifndef CHORI_VERSION
#error "CHORI_VERSION must be defined by the build (package.json's version)"
#endif

namespace chori {
namespace {

model::LoadRequest toRequest(const LoadOptions& options) {
  model::LoadRequest request;
  // The C++ API's defaults: one worker, cores ÷ workers threads (no adaptive scheduling).
  request.workers = options.workers;
  if (options.threads < 0) {
    throw Error(code::kInvalidArgument, "threads must be 0 (all cores) or a positive integer, not " + std::to_string(options.threads));
  }
  if (options.threads > 0) request.threads = options.threads;
  if (options.precision == "fp32") {
    request.precision = model::Precision::Float32;
  } else if (options.precision == "bf16") {
    request.precision = model::Precision::BFloat16;
  } else if (!options.precision.empty()) {
    throw Error(code::kInvalidArgument, "precision must be fp32 or bf16, not '" + options.precision + "'");
  }
  request.optimize = options.optimize;
  if (options.maxPixels > 0) request.maxPixels = options.maxPixels;
  request.device = model::parseDevice(options.device);
  request.deterministic = options.deterministic;
  return request;
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
  model::LoadedModel loaded = model::loadModel(path, toRequest(options));
  auto impl = std::make_unique<Impl>();
  impl->classifier = std::move(loaded.classifier);
  impl->labels = std::move(loaded.metadata.labels);
  const model::LoadInfo& from = loaded.info;
  ModelInfo& info = impl->info;
  info.format = from.format;
  info.requestedOptimize = from.requestedOptimize;
  info.optimize = from.optimize;
  info.precision = from.precision;
  info.device = from.device;
  info.threads = from.threads;
  info.workers = from.workers;
  info.warmupRuns = from.warmupRuns;
  info.optimizeMs = from.optimizeMs;
  info.warmupMs = from.warmupMs;
  for (const auto& w : from.warnings) info.warnings.push_back(w.message);
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
  return {CHORI_VERSION, model::runtimeInfo().torchVersion, images.libjpegTurbo, images.libpng, images.libwebp, images.libavif, images.libtiff};
}

}  // namespace chori
