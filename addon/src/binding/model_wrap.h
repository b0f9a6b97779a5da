// The one N-API class: a loaded model. It owns its Classifier through a shared_ptr that every
// queued worker also holds, so dispose() while work is in flight never frees memory in use:
// the native model is freed when the last of them finishes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>

#include "binding/dispatcher.h"
#include "model/classifier.h"

namespace chori::binding {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // A model that load() has configured and prepared; up to `maxQueue` calls in flight.
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<model::Classifier> classifier, uint64_t maxQueue);

  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;

 private:
  // [sync] metadata: string — the artifact's chori.json, verbatim.
  Napi::Value Metadata(const Napi::CallbackInfo& info);
  // [sync] format: "torchscript" | "pt2" — which backend read the artifact.
  Napi::Value Format(const Napi::CallbackInfo& info);
  // [async] predict(bytes: Uint8Array, topk: number, logits: boolean)
  //   → Promise<{ topk: {index, score}[], logits?: Float32Array, batchSize, timings }>. The
  //   bytes are copied before returning, so the caller may reuse the buffer at once. Decoding
  //   runs on the libuv pool, forward on the model's inference thread, batched with concurrent
  //   calls. Rejects with CHORI_OVERLOADED when maxQueue calls are already in flight.
  Napi::Value Predict(const Napi::CallbackInfo& info);
  // [async] predictTensor(data: Float32Array, height: number, width: number, topk: number,
  //   logits: boolean) → the same Promise as predict(): an input already preprocessed (3 × H × W
  //   floats, planar RGB, as preprocess() returns it) skips decoding and goes to the batcher.
  //   The floats are copied before returning. Throws TypeError when data is not a Float32Array of
  //   3 × height × width values; the caller checks the size against the model's input.
  Napi::Value PredictTensor(const Napi::CallbackInfo& info);
  // [async] preprocess(bytes: Uint8Array) → Promise<{ data: Float32Array, shape: [3, H, W] }>.
  Napi::Value Preprocess(const Napi::CallbackInfo& info);
  // [async] dispose() → Promise<void>: later calls reject with CHORI_DISPOSED at once; queued
  //   ones reject with CHORI_DISPOSED, the running batch completes; resolves once the inference
  //   thread has stopped. The model is freed when the last pending call has settled.
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // Returns the classifier, or nullptr after a rejected promise stored in `rejected`.
  std::shared_ptr<model::Classifier> usable(Napi::Env env, Napi::Value* rejected) const;

  // At env teardown Node finalizes thread-safe functions; the inference thread must be stopped
  // before, or it could deliver into one that is gone. Cleanup hooks run in reverse order of
  // registration, so this one (added after the Dispatcher's TSFN) runs first.
  static void StopOnTeardown(void* self);
  bool teardownHook_ = false;

  std::shared_ptr<model::Classifier> classifier_;
  std::shared_ptr<Dispatcher> dispatcher_;
};

}  // namespace chori::binding
