#include "model/classifier.h"

#include <algorithm>
#include <numeric>

#include "chori/error.h"

namespace chori::model {

void Classifier::configure(ClassifierConfig config) {
  config_ = std::move(config);
  batcher_ = std::make_unique<Batcher>(*backend_, config_.batch, config_.outputsAreProbabilities);
}

OptimizeReport Classifier::optimize(Optimization form, const std::vector<int64_t>& warmupShape, int warmupRuns) {
  OptimizeReport report;
  batcher_->runOnInferenceThread([&] {
    report = backend_->optimize(form, warmupShape, warmupRuns);
    if (config_.batch.adaptiveCores > 1) report.warmupMs += backend_->prepareSingleThreaded(warmupShape, warmupRuns);
  });
  return report;
}

Preprocessed Classifier::preprocess(const std::vector<uint8_t>& bytes) const {
  if (bytes.empty()) throw Error(code::kEmptyInput, "the image buffer is empty");
  image::RgbImage img = image::decode(bytes.data(), bytes.size(), config_.decode);
  if (config_.input.fastai) image::checkStagedSize(img.width, img.height, *config_.input.fastai, config_.decode.maxPixels);
  auto [height, width] = image::outputSize(config_.input, img.width, img.height);
  Preprocessed out{height, width, std::vector<float>(static_cast<size_t>(3) * height * width)};
  image::preprocess(img, config_.input, out.data.data());
  return out;
}

std::vector<Ranked> rank(const std::vector<float>& scores, int topk) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  const auto k = std::clamp<size_t>(static_cast<size_t>(std::max(topk, 1)), 1, scores.size());
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  std::vector<Ranked> ranked;
  for (size_t i = 0; i < k; ++i) ranked.push_back({order[i], scores[order[i]]});
  return ranked;
}

}  // namespace chori::model
