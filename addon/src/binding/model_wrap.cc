#include "binding/model_wrap.h"

#include <chrono>
#include <string>
#include <vector>

#include "binding/dispatcher.h"
#include "binding/promise_worker.h"
#include "binding/values.h"
#include "chori/error.h"
#include "common/thread_priority.h"

namespace chori::binding {
namespace {

struct AddonData {
  Napi::FunctionReference modelConstructor;
};

// What NewInstance hands the constructor, through an External.
struct Construction {
  std::shared_ptr<model::Classifier> classifier;
  uint64_t maxQueue;
};

std::vector<uint8_t> copyBytes(const Napi::Value& value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(value.Env(), "expected a Buffer or Uint8Array");
  }
  auto bytes = value.As<Napi::Uint8Array>();
  return {bytes.Data(), bytes.Data() + bytes.ByteLength()};
}


double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Queues one preprocessed input on the model's batcher (announced before); the Dispatcher settles
// the call's Promise on the JS thread once its batch has run. Throws CHORI_DISPOSED once closed.
void submit(const std::shared_ptr<PendingPrediction>& pending, model::Preprocessed input) {
  pending->classifier->batcher().submit(std::move(input.data), input.height, input.width,
                                        [pending](model::RowResult r) mutable {
                                          pending->result = std::move(r);
                                          pending->totalMs = msSince(pending->start);
                                          auto dispatcher = pending->dispatcher;
                                          dispatcher->deliver(std::move(pending));
                                        });
}

// Decodes and preprocesses on the libuv pool, then hands the tensor to the model's batcher;
// the Dispatcher settles the Promise when the batch has run. Decoding failures settle here.
class PredictWorker final : public Napi::AsyncWorker {
 public:
  PredictWorker(Napi::Env env, std::shared_ptr<PendingPrediction> pending, std::vector<uint8_t> bytes)
      : Napi::AsyncWorker(env), pending_(std::move(pending)), bytes_(std::move(bytes)) {}

 private:
  void Execute() override {
    backgroundThisThread();
    model::Batcher& batcher = pending_->classifier->batcher();
    try {
      model::Preprocessed input;
      try {
        input = pending_->classifier->preprocess(bytes_);
      } catch (...) {
        batcher.withdraw();
        throw;
      }
      pending_->decodeMs = msSince(pending_->start);
      submit(pending_, std::move(input));
      submitted_ = true;
    } catch (...) {
      pending_->failure = currentFailure();
    }
  }

  void OnOK() override {
    if (!submitted_) pending_->dispatcher->settle(Env(), *pending_);
  }

  std::shared_ptr<PendingPrediction> pending_;
  std::vector<uint8_t> bytes_;
  bool submitted_ = false;
};

class PreprocessWorker final : public PromiseWorker {
 public:
  PreprocessWorker(Napi::Env env, std::shared_ptr<model::Classifier> classifier, std::vector<uint8_t> bytes)
      : PromiseWorker(env), classifier_(std::move(classifier)), bytes_(std::move(bytes)) {}

 private:
  void Work() override { tensor_ = classifier_->preprocess(bytes_); }

  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Object::New(env);
    result.Set("data", toFloat32Array(env, tensor_.data));
    auto shape = Napi::Array::New(env, 3);
    shape.Set(0u, 3.0);
    shape.Set(1u, static_cast<double>(tensor_.height));
    shape.Set(2u, static_cast<double>(tensor_.width));
    result.Set("shape", shape);
    return result;
  }

  std::shared_ptr<model::Classifier> classifier_;
  std::vector<uint8_t> bytes_;
  model::Preprocessed tensor_;
};

// Closing joins the inference thread, which may be mid-batch: done off the JS thread.
class DisposeWorker final : public PromiseWorker {
 public:
  DisposeWorker(Napi::Env env, std::shared_ptr<model::Classifier> classifier)
      : PromiseWorker(env), classifier_(std::move(classifier)) {}

 private:
  void Work() override {
    if (classifier_->configured()) classifier_->batcher().close();
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

  std::shared_ptr<model::Classifier> classifier_;
};

Napi::Value rejectedPromise(Napi::Env env, const Failure& failure) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(makeError(env, failure).Value());
  return deferred.Promise();
}

}  // namespace

Napi::Function ModelWrap::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeModel",
                                    {
                                        InstanceAccessor<&ModelWrap::Metadata>("metadata"),
                                        InstanceAccessor<&ModelWrap::Format>("format"),
                                        InstanceMethod<&ModelWrap::Predict>("predict"),
                                        InstanceMethod<&ModelWrap::PredictTensor>("predictTensor"),
                                        InstanceMethod<&ModelWrap::Preprocess>("preprocess"),
                                        InstanceMethod<&ModelWrap::Dispose>("dispose"),
                                    });
  auto* data = new AddonData{Napi::Persistent(ctor)};  // owned by the env: freed by the finalizer below
  env.SetInstanceData<AddonData>(data);
  return ctor;
}

Napi::Object ModelWrap::NewInstance(Napi::Env env, std::shared_ptr<model::Classifier> classifier, uint64_t maxQueue) {
  // The External points at this frame's arguments; the constructor copies them synchronously.
  Construction construction{std::move(classifier), maxQueue};
  auto external = Napi::External<Construction>::New(env, &construction);
  return env.GetInstanceData<AddonData>()->modelConstructor.New({external});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeModel is created by load(), not with new");
  }
  const Construction& construction = *info[0].As<Napi::External<Construction>>().Data();
  classifier_ = construction.classifier;
  atBoundary(info.Env(), [&]() -> Napi::Value {
    dispatcher_ = std::make_shared<Dispatcher>(info.Env(), static_cast<size_t>(construction.maxQueue));
    return info.Env().Undefined();
  });
  teardownHook_ = napi_add_env_cleanup_hook(info.Env(), StopOnTeardown, this) == napi_ok;
}

ModelWrap::~ModelWrap() {
  if (teardownHook_) napi_remove_env_cleanup_hook(Env(), StopOnTeardown, this);
}

void ModelWrap::StopOnTeardown(void* self) {
  auto& classifier = static_cast<ModelWrap*>(self)->classifier_;
  if (classifier && classifier->configured()) classifier->batcher().close();
}

std::shared_ptr<model::Classifier> ModelWrap::usable(Napi::Env env, Napi::Value* rejected) const {
  if (!classifier_) {
    *rejected = rejectedPromise(env, {code::kDisposed, "the model has been disposed"});
  } else {
    return classifier_;
  }
  return nullptr;
}

Napi::Value ModelWrap::Metadata(const Napi::CallbackInfo& info) {
  if (!classifier_) return info.Env().Null();
  return Napi::String::New(info.Env(), classifier_->metadataJson());
}

Napi::Value ModelWrap::Format(const Napi::CallbackInfo& info) {
  if (!classifier_) return info.Env().Null();
  return Napi::String::New(info.Env(), classifier_->format());
}

Napi::Value ModelWrap::Predict(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Value rejected;
    auto classifier = usable(env, &rejected);
    if (!classifier) return rejected;
    auto bytes = copyBytes(info[0]);
    int topk = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 1;
    auto pending = std::make_shared<PendingPrediction>(env, dispatcher_, std::move(classifier), topk, info[2].ToBoolean());
    Napi::Promise promise = pending->deferred.Promise();
    // Last before queueing: once begun, the call must reach Dispatcher::settle to end.
    if (!dispatcher_->begin(env)) {
      return rejectedPromise(env, {code::kOverloaded, "too many predictions in flight for this model (maxQueue)"});
    }
    pending->classifier->batcher().announce();
    (new PredictWorker(env, std::move(pending), std::move(bytes)))->Queue();  // napi deletes it when done
    return promise;
  });
}

Napi::Value ModelWrap::PredictTensor(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Value rejected;
    auto classifier = usable(env, &rejected);
    if (!classifier) return rejected;
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(env, "predictTensor(data, height, width, topk, logits) needs a Float32Array");
    }
    auto data = info[0].As<Napi::Float32Array>();
    const int64_t height = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    const int64_t width = info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
    if (height < 1 || width < 1 || static_cast<int64_t>(data.ElementLength()) != 3 * height * width) {
      throw Napi::TypeError::New(env, "predictTensor: data must hold 3 × height × width floats");
    }
    model::Preprocessed input{height, width, std::vector<float>(data.Data(), data.Data() + data.ElementLength())};
    int topk = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 1;
    auto pending = std::make_shared<PendingPrediction>(env, dispatcher_, std::move(classifier), topk, info[4].ToBoolean());
    Napi::Promise promise = pending->deferred.Promise();
    if (!dispatcher_->begin(env)) {
      return rejectedPromise(env, {code::kOverloaded, "too many predictions in flight for this model (maxQueue)"});
    }
    pending->classifier->batcher().announce();  // submit() counts it back
    try {
      submit(pending, std::move(input));
    } catch (...) {
      pending->failure = currentFailure();  // disposed meanwhile: settled here, as a decoding failure is
      dispatcher_->settle(env, *pending);
    }
    return promise;
  });
}

Napi::Value ModelWrap::Preprocess(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Value rejected;
    auto classifier = usable(env, &rejected);
    if (!classifier) return rejected;
    auto* worker = new PreprocessWorker(env, std::move(classifier), copyBytes(info[0]));  // napi deletes it
    worker->Queue();
    return worker->promise();
  });
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!classifier_) return rejectedPromise(env, {code::kDisposed, "the model has already been disposed"});
    auto* worker = new DisposeWorker(env, std::move(classifier_));  // napi deletes it when done
    worker->Queue();
    return worker->promise();
  });
}

}  // namespace chori::binding
