// Brings finished predictions from the inference thread back to the JS thread, through one
// thread-safe function per model, and bounds how many are in flight (maxQueue).
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

#include "binding/errors.h"
#include "model/batcher.h"
#include "model/classifier.h"

namespace chori::binding {

class Dispatcher;

// One predict() call, from the JS call to the settled Promise.
struct PendingPrediction {
  PendingPrediction(Napi::Env env, std::shared_ptr<Dispatcher> d, std::shared_ptr<model::Classifier> c, int k, bool l)
      : deferred(Napi::Promise::Deferred::New(env)), dispatcher(std::move(d)), classifier(std::move(c)), topk(k),
        wantLogits(l) {}

  Napi::Promise::Deferred deferred;
  std::shared_ptr<Dispatcher> dispatcher;
  // Keeps the native model alive until the JS thread settles this call, so the last reference
  // is never dropped on the inference thread (which would have to join itself).
  std::shared_ptr<model::Classifier> classifier;
  int topk;
  bool wantLogits;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double decodeMs = 0, totalMs = 0;
  model::RowResult result;          // set on the inference thread
  std::optional<Failure> failure;   // set when decoding failed
};

class Dispatcher {
 public:
  static void CallJs(Napi::Env env, Napi::Function, Dispatcher*, std::shared_ptr<PendingPrediction>* data);
  using Tsfn = Napi::TypedThreadSafeFunction<Dispatcher, std::shared_ptr<PendingPrediction>, CallJs>;

  Dispatcher(Napi::Env env, size_t maxQueue);
  ~Dispatcher();

  // [JS thread] false when maxQueue calls are already in flight.
  bool begin(Napi::Env env);
  // [any thread] hands a finished call to the JS thread.
  void deliver(std::shared_ptr<PendingPrediction> pending);
  // [JS thread] settles the Promise (from the result or the failure) and ends the call.
  void settle(Napi::Env env, PendingPrediction& pending);

 private:
  std::shared_ptr<std::atomic<bool>> finalized_;  // set by the TSFN's finalizer; before tsfn_
  Tsfn tsfn_;
  size_t maxQueue_;
  size_t inFlight_ = 0;  // JS thread only
};

}  // namespace chori::binding
