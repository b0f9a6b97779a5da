// Image bytes → class scores: the image pipeline, a Backend and its Batcher, joined by the
// input spec from the artifact's metadata. One Classifier per loaded model; the N-API Model
// class wraps it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/decode.h"
#include "image/preprocess.h"
#include "model/backend.h"
#include "model/batcher.h"

namespace chori::model {

struct ClassifierConfig {
  image::InputSpec input;
  image::DecodeOptions decode;
  BatchOptions batch;
  int64_t numClasses = 0;
  bool outputsAreProbabilities = false;
};

struct Ranked {
  int64_t index;
  float score;
};

struct Preprocessed {
  int64_t height = 0, width = 0;
  std::vector<float> data;  // 3 × height × width
};

class Classifier {
 public:
  explicit Classifier(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}

  const std::string& metadataJson() const { return backend_->metadataJson(); }
  const char* format() const { return backend_->format(); }
  int64_t numClasses() const { return config_.numClasses; }

  // Called once, by model::loadModel, before any work is queued; starts the inference threads.
  void configure(ClassifierConfig config);
  bool configured() const { return batcher_ != nullptr; }

  // [blocking] The load-time preparation (Backend::optimize), run on the inference thread; once,
  // after configure() and before the first prediction is queued.
  OptimizeReport optimize(Optimization form, const std::vector<int64_t>& warmupShape, int warmupRuns);

  // [blocking] decode + preprocess; thread-safe (the configuration is read-only by now).
  Preprocessed preprocess(const std::vector<uint8_t>& bytes) const;
  Batcher& batcher() { return *batcher_; }

 private:
  std::unique_ptr<Backend> backend_;
  ClassifierConfig config_;
  std::unique_ptr<Batcher> batcher_;  // after backend_: destroyed (and joined) first
};

// The `topk` best classes, best first; equal scores rank the lower index first.
std::vector<Ranked> rank(const std::vector<float>& scores, int topk);

}  // namespace chori::model
