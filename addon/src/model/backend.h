// The model side behind one small interface: load an artifact, read its metadata, forward a
// batch. Torch types stay behind it, so the N-API layer and the image pipeline never include
// libtorch headers, and another artifact kind (a torch.export / AOTInductor .pt2 package) or a
// CUDA device can be added as a second implementation without touching them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/device.h"

namespace chori::model {

enum class Precision { Float32, BFloat16 };

// The load-time graph passes (docs/ARCHITECTURE.md, "Load-time optimisation"). `chori golden`
// applies the same ones through Python in the same order, so the golden logits come from the
// very graph the addon runs.
enum class Optimization {
  None,                  // the artifact as saved, executor optimisations off
  Freeze,                // torch.jit.freeze (conv-bn folding, constants), executor optimisations off
  OptimizeForInference,  // freeze + torch.jit.optimize_for_inference (oneDNN layouts)
  OneDnnFusion,          // freeze, run by the profiling executor with oneDNN Graph (LLGA) fusion
};

// Throws chori::Error(CHORI_MODEL_LOAD) for a name other than none, freeze, ofi, onednn.
Optimization parseOptimization(const std::string& name);
const char* optimizationName(Optimization form);

struct OptimizeReport {
  double optimizeMs = 0;  // applying the passes
  double warmupMs = 0;    // the warm-up forwards (oneDNN Graph compiles its partitions then)
};

struct LoadOptions {
  int threads = 0;  // intra-op threads of this model's forward; 0 = libtorch's default (all cores)
  // BFloat16 converts the weights at load time and runs forward in bf16 (oneDNN uses
  // AVX512_BF16 where the CPU has it); inputs and outputs stay float32. Opt-in: it trades
  // the bit-exact match with the golden set for speed.
  Precision precision = Precision::Float32;
  // How many inference threads will call forward() at once (BatchOptions::workers); a .pt2
  // package sizes its pool of runners to it.
  int workers = 1;
  // Where forward runs (model/device.h). A CUDA device loads libtorch's CUDA libraries first.
  Device device;
  // CUDA only: cuDNN's deterministic algorithms, no TF32 (prepareCuda); the CPU forms repeat
  // bit for bit already.
  bool deterministic = false;
};

// A float32 N×3×H×W batch, contiguous.
struct Batch {
  int64_t n = 0, height = 0, width = 0;
  std::vector<float> data;
  int threads = 0;  // intra-op threads of this forward (the adaptive scheduler's pick); 0 = the model's
};

// N×C, row-major.
struct Output {
  int64_t n = 0, classes = 0;
  std::vector<float> logits;         // the model's raw outputs
  std::vector<float> probabilities;  // softmax(logits), or the outputs when they already are
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The embedded chori.json, verbatim (model/metadata.cc parses and checks it).
  virtual const std::string& metadataJson() const = 0;
  // "torchscript" (torch.jit.save) or "pt2" (an AOTInductor package): what the front ends
  // resolve `optimize` against, since a compiled package takes no load-time passes.
  virtual const char* format() const = 0;
  // [blocking] Converts to the requested precision and applies `form`, once, before the first
  // forward and on the thread that will run the forwards, then runs `warmupRuns` forwards
  // on zeros of `warmupShape` (N×3×H×W; empty skips the warm-up) so that the profiling executor
  // has specialised and compiled the graph before the first real call. Throws
  // chori::Error(CHORI_MODEL_LOAD) when a pass fails on this model.
  virtual OptimizeReport optimize(Optimization form, const std::vector<int64_t>& warmupShape, int warmupRuns) = 0;
  // [blocking] For adaptive parallelism, after optimize() on the same thread: oneDNN Graph fixes
  // a fused partition's intra-op thread count when it compiles (measured: an `onednn` module
  // warmed up at 2 threads keeps using 2 when its caller asks for 1), so forwards with
  // Batch::threads == 1 get a second copy of the prepared module, compiled by a warm-up at one
  // thread (the same bits: bench/forms.py --determinism). Returns its warm-up ms; a no-op (0)
  // where the thread count is not fixed at compile time.
  virtual double prepareSingleThreaded(const std::vector<int64_t>& /*warmupShape*/, int /*warmupRuns*/) { return 0; }
  // [blocking] Runs the model; throws chori::Error(CHORI_INFERENCE) on failure.
  // Called from the model's inference threads: with `workers` > 1, from that many at once.
  virtual Output forward(const Batch& batch, bool outputsAreProbabilities) const = 0;
};

// [blocking] Picks the backend from the file's contents (never its name): a PT2 archive
// (AOTInductor, model/aoti.cc) or a TorchScript archive (model/torchscript.cc). Throws
// chori::Error(CHORI_MODEL_LOAD) when the file is missing, unreadable, not an artifact or not
// runnable here, CHORI_MODEL_METADATA when it carries no chori.json, CHORI_DEVICE when
// options.device is a CUDA device this machine cannot use.
std::unique_ptr<Backend> load(const std::string& path, const LoadOptions& options);

// The artifact's chori.json (extra/chori.json in both kinds of archive), read without loading
// the model, so that what it records (the precision) can decide how to load it. Empty when the
// file is not a readable archive or has none: load() then says which. Never throws.
std::string readMetadata(const std::string& path);

}  // namespace chori::model
