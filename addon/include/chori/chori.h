// chori: classify images with a chori-torch artifact from C++, with the answers Node and
// Python give (the same PIL-identical decoding and preprocessing, the same libtorch graph).
//
//   chori::Model model = chori::Model::load("export/model.pt");
//   chori::Prediction p = model.predictFile("photo.jpg");
//   std::cout << p.label << " " << p.score << "\n";
//
// Failures throw chori::Error, whose code() is one of the CHORI_* strings in chori/error.h:
// the codes the JavaScript API reports. No libtorch header is needed to use this one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chori/error.h"

namespace chori {

struct LoadOptions {
  int threads = 0;                 // libtorch intra-op threads of each worker; 0 = cores ÷ workers
  int workers = 1;                 // inference threads, each running its own forward (see js/index.d.ts)
  std::string optimize = "auto";   // load-time passes: auto, none, freeze, ofi, onednn
  // "fp32" or "bf16" (faster where the CPU has AVX512_BF16/AMX; equal to `chori golden
  // --precision bf16`); empty: the precision the artifact records (chori export --precision), else fp32.
  std::string precision;
  uint64_t maxPixels = 0;          // decompression-bomb limit; 0 = PIL's (2 × 89,478,485)
  std::string device = "cpu";      // or "cuda", "cuda:N": CHORI_DEVICE where it cannot be used
  bool deterministic = false;      // CUDA: cuDNN deterministic algorithms, no TF32
};

struct RankedClass {
  std::string label;
  int64_t index = 0;
  float score = 0;  // probability
};

struct Prediction {
  std::string label;  // the best class
  int64_t index = 0;
  float score = 0;
  std::vector<RankedClass> topk;  // best first; equal scores rank the lower index first
  std::vector<float> logits;      // the model's raw outputs, one per label
  double inferenceMs = 0;         // forward alone
};

// What load() did, as the JavaScript `model.info` says it.
struct ModelInfo {
  std::string format;                       // "torchscript", or "pt2" (an AOTInductor package)
  std::string requestedOptimize, optimize;  // as asked ("auto") and as resolved ("onednn"; "none" for a .pt2)
  std::string precision;
  std::string device;  // "cpu" or "cuda:N"
  int threads = 0, workers = 1;
  int warmupRuns = 0;
  double optimizeMs = 0, warmupMs = 0;
  // For example: the artifact was exported with another torch release than the linked libtorch
  // (it still runs; bit-exact parity is only promised for the same release).
  std::vector<std::string> warnings;
};

class Model {
 public:
  // [blocking] Reads the artifact (TorchScript or .pt2, told apart by their contents),
  // validates its chori.json, applies the load-time passes and warms up. Throws
  // CHORI_MODEL_LOAD, CHORI_MODEL_METADATA, or CHORI_INVALID_ARGUMENT for a bad option.
  static Model load(const std::string& path, const LoadOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();  // waits for a running forward, then frees the model

  // [blocking] Thread-safe: concurrent calls decode in parallel and run forward one at a time
  // on the model's own inference thread. `topk` is clamped to [1, number of labels]. Throws
  // the image codes (CHORI_EMPTY_INPUT, CHORI_UNSUPPORTED_FORMAT, CHORI_TRUNCATED,
  // CHORI_DECODE, CHORI_IMAGE_TOO_LARGE) and CHORI_INFERENCE.
  Prediction predict(const std::vector<uint8_t>& bytes, int topk = 5) const;
  // The same on a file's bytes; CHORI_INVALID_ARGUMENT when it cannot be read.
  Prediction predictFile(const std::string& path, int topk = 5) const;

  const std::vector<std::string>& labels() const;
  const ModelInfo& info() const;
  const std::string& metadataJson() const;  // the artifact's chori.json, verbatim

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct Versions {
  std::string chori, libtorch, libjpegTurbo, libpng, libwebp, libavif, libtiff;
};
Versions versions();

}  // namespace chori
