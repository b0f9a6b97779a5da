#include "binding/dispatcher.h"

#include <atomic>
#include <memory>
#include <string>

#include "binding/values.h"
#include "chori/error.h"

namespace chori::binding {

namespace {

using FinalizedFlag = std::shared_ptr<std::atomic<bool>>;

// Runs once, on the JS thread, when the TSFN is gone: after Release() once its queue has
// drained (the Dispatcher is already destroyed then), or at process exit (before it is).
void onTsfnFinalized(Napi::Env, FinalizedFlag* flag, Dispatcher*) {
  std::unique_ptr<FinalizedFlag> owned(flag);
  **owned = true;
}

}  // namespace

Dispatcher::Dispatcher(Napi::Env env, size_t maxQueue)
    : finalized_(std::make_shared<std::atomic<bool>>(false)),
      tsfn_(Tsfn::New(env, "chori-torch.predict", 0, 1, this, onTsfnFinalized,
                      std::make_unique<FinalizedFlag>(finalized_).release())),  // the finalizer owns it
      maxQueue_(maxQueue) {
  // Idle models must not keep the process alive: the TSFN is referenced only while calls run.
  tsfn_.Unref(env);
}

// At process exit Node finalizes thread-safe functions before wrapped objects; releasing one
// after that would touch freed memory. The flag is shared with the finalizer, which may also
// run after this object is gone.
Dispatcher::~Dispatcher() {
  if (!*finalized_) tsfn_.Release();
}

bool Dispatcher::begin(Napi::Env env) {
  if (inFlight_ >= maxQueue_) return false;
  if (inFlight_++ == 0) tsfn_.Ref(env);
  return true;
}

void Dispatcher::deliver(std::shared_ptr<PendingPrediction> pending) {
  auto box = std::make_unique<std::shared_ptr<PendingPrediction>>(std::move(pending));
  // The queue is unbounded (size 0), so the call only fails while the env shuts down; then
  // the box is freed here and nobody is left to wait for the Promise.
  if (tsfn_.NonBlockingCall(box.get()) == napi_ok) box.release();  // CallJs owns it now
}

void Dispatcher::CallJs(Napi::Env env, Napi::Function, Dispatcher* self, std::shared_ptr<PendingPrediction>* data) {
  std::unique_ptr<std::shared_ptr<PendingPrediction>> box(data);
  if (env == nullptr) return;  // the env is shutting down
  self->settle(env, **box);
}

namespace {

Napi::Object predictionObject(Napi::Env env, const PendingPrediction& p) {
  auto result = Napi::Object::New(env);
  auto ranked = model::rank(p.result.probabilities, p.topk);
  auto topk = Napi::Array::New(env, ranked.size());
  for (size_t i = 0; i < ranked.size(); ++i) {
    auto entry = Napi::Object::New(env);
    entry.Set("index", static_cast<double>(ranked[i].index));
    entry.Set("score", ranked[i].score);
    topk.Set(i, entry);
  }
  result.Set("topk", topk);
  if (p.wantLogits) result.Set("logits", toFloat32Array(env, p.result.logits));
  result.Set("batchSize", p.result.batchSize);
  auto timings = Napi::Object::New(env);
  timings.Set("decodeMs", p.decodeMs);
  timings.Set("inferenceMs", p.result.inferenceMs);
  timings.Set("totalMs", p.totalMs);
  result.Set("timings", timings);
  return result;
}

std::optional<Failure> failureOf(const PendingPrediction& p) {
  if (p.failure) return p.failure;
  if (p.result.error) {
    try {
      std::rethrow_exception(p.result.error);
    } catch (...) {
      return currentFailure();
    }
  }
  const auto classes = static_cast<size_t>(p.classifier->numClasses());
  if (p.result.logits.size() != classes) {
    return Failure{code::kInference, "the model returned " + std::to_string(p.result.logits.size()) +
                                         " outputs but its metadata lists " + std::to_string(classes) + " labels"};
  }
  return std::nullopt;
}

}  // namespace

void Dispatcher::settle(Napi::Env env, PendingPrediction& pending) {
  Napi::HandleScope scope(env);
  try {
    if (auto failure = failureOf(pending)) {
      pending.deferred.Reject(makeError(env, *failure).Value());
    } else {
      pending.deferred.Resolve(predictionObject(env, pending));
    }
  } catch (...) {
    // Building the result failed: reject rather than let an exception unwind into libuv.
    pending.deferred.Reject(makeError(env, currentFailure()).Value());
  }
  if (--inFlight_ == 0) tsfn_.Unref(env);
}

}  // namespace chori::binding
