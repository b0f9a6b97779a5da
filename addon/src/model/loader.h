// Loading a model, once, for both front ends (the N-API load() and chori::Model::load): the
// options as one typed struct, and the policy that turns them and the artifact into a ready
// Classifier — the precision the artifact records, what `optimize: 'auto'` means, the warm-up,
// the parallelism — in one place (docs/ARCHITECTURE.md, "Loading").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "image/limits.h"
#include "model/backend.h"
#include "model/classifier.h"
#include "model/device.h"
#include "model/metadata.h"

namespace chori::model {

// What the caller asked for: js/index.d.ts LoadOptions, typed. An unset field takes the default
// that depends on the artifact or the machine.
struct LoadRequest {
  std::optional<int> threads;          // intra-op threads of each forward (1 to 1024)
  std::optional<int> workers;          // inference threads (1 to 64); neither set: adaptive parallelism
  std::optional<Precision> precision;  // unset: the artifact's `precision`, else fp32
  std::string optimize = "auto";       // auto, none, freeze, ofi, onednn
  uint64_t maxPixels = image::kDefaultMaxPixels;
  bool batch = false;
  std::optional<int> maxBatch;  // with batch: 8 on the CPU, 32 on a GPU when unset
  double maxDelayMs = 5;
  uint64_t maxQueue = 1024;
  Device device;
  bool deterministic = false;
  // Inference threads at background priority: the Node front end, whose event loop comes first
  // (common/thread_priority.h); a C++ program's own threads would starve them.
  bool background = false;
  int cores = 0;  // the cores this model may use; 0: those this process may run on
};

// One entry of `model.warnings`; `code` names its kind (CHORI_TORCH_VERSION_MISMATCH, CHORI_BF16_EMULATED).
struct LoadWarning {
  std::string code, message;
};

// What load() did: js `model.info` field for field, and chori::ModelInfo.
struct LoadInfo {
  std::string format;             // "torchscript" or "pt2"
  std::string optimize;           // the form applied ("none" for a .pt2)
  std::string requestedOptimize;  // as asked ("auto")
  int warmupRuns = 0;
  double optimizeMs = 0, warmupMs = 0;
  int threads = 0;  // the most one forward takes
  int workers = 1;
  bool adaptive = false;
  std::string precision;  // "fp32" or "bf16", as resolved
  int maxBatch = 1;
  std::string device;  // "cpu" or "cuda:N"
  bool deterministic = false;
  std::vector<LoadWarning> warnings;
};

struct LoadedModel {
  std::unique_ptr<Classifier> classifier;  // configured, prepared and warmed up
  Metadata metadata;
  LoadInfo info;
};

// Throws chori::Error(CHORI_INVALID_ARGUMENT) naming the first option out of range.
void validate(const LoadRequest& request);

// [blocking] Reads the artifact's chori.json, resolves the precision (the request's, else the
// artifact's), loads the backend once in it, checks a .pt2 package against this libtorch,
// resolves the form, configures the inference threads, and runs the passes and the warm-up on
// one of them. Throws CHORI_INVALID_ARGUMENT, CHORI_MODEL_LOAD, CHORI_MODEL_METADATA, CHORI_DEVICE.
LoadedModel loadModel(const std::string& path, const LoadRequest& request);

}  // namespace chori::model
