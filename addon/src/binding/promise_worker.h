// An AsyncWorker that settles a Promise: Work() runs on the libuv pool and may throw anything;
// Resolve() builds the JS value on the JS thread. Failures reject with a coded Error.
#pragma once

#include <napi.h>

#include <optional>

#include "binding/errors.h"

namespace chori::binding {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  virtual void Work() = 0;                         // [worker thread]
  virtual Napi::Value Result(Napi::Env env) = 0;  // [JS thread]

 private:
  void Execute() final {
    try {
      Work();
    } catch (...) {
      failure_ = currentFailure();
    }
  }

  void OnOK() final {
    Napi::Env env = Env();
    if (failure_) {
      deferred_.Reject(makeError(env, *failure_).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(makeError(env, currentFailure()).Value());
    }
  }

  void OnError(const Napi::Error& e) final { deferred_.Reject(e.Value()); }

  Napi::Promise::Deferred deferred_;
  std::optional<Failure> failure_;
};

}  // namespace chori::binding
