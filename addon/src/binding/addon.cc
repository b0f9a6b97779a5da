// Module entry: exports load() and the NativeModel class. js/native.js is the only caller.
#include <napi.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "binding/errors.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "image/simd.h"
#include "image/versions.h"
#include "model/backend.h"
#include "model/batcher.h"
#include "model/device.h"
#include "model/runtime.h"

namespace chori::binding {
namespace {

class LoadWorker final : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, model::LoadOptions options)
      : PromiseWorker(env), path_(std::move(path)), options_(options) {}

 private:
  void Work() override { classifier_ = std::make_shared<model::Classifier>(model::load(path_, options_)); }
  Napi::Value Result(Napi::Env env) override { return ModelWrap::NewInstance(env, std::move(classifier_)); }

  std::string path_;
  model::LoadOptions options_;
  std::shared_ptr<model::Classifier> classifier_;
};

// [async] load(path: string, threads: number, precision: "fp32" | "bf16", workers: number,
// device: "cpu" | "cuda" | "cuda:N", deterministic: boolean) → Promise<NativeModel>;
// throws CHORI_INVALID_ARGUMENT for another device name; rejects with CHORI_MODEL_LOAD,
// CHORI_MODEL_METADATA or CHORI_DEVICE.
Napi::Value Load(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "load(path, threads) needs a string path");
    model::LoadOptions options;
    if (info[1].IsNumber()) options.threads = info[1].As<Napi::Number>().Int32Value();
    if (info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "bf16") {
      options.precision = model::Precision::BFloat16;
    }
    if (info[3].IsNumber()) options.workers = std::max(1, info[3].As<Napi::Number>().Int32Value());
    if (info[4].IsString()) options.device = model::parseDevice(info[4].As<Napi::String>().Utf8Value());
    options.deterministic = info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();
    auto* worker = new LoadWorker(env, info[0].As<Napi::String>().Utf8Value(), options);  // napi deletes it
    worker->Queue();
    return worker->promise();
  });
}

// [sync, blocking] closeAll(): stops every model's inference thread (queued calls are
// failed with CHORI_DISPOSED, running batches finish). js/native.js calls it on process 'exit'.
Napi::Value CloseAll(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    model::Batcher::closeAll();
    return info.Env().Undefined();
  });
}

// [sync] simd() → { active: string, available: string[] }: the resampler's vector path
// (image/simd.h) and the ones this CPU runs; throws CHORI_INTERNAL when CHORI_SIMD asks for a
// path that is unknown or missing here.
Napi::Value Simd(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("active", image::simdPathName(image::activeSimdPath()));
    Napi::Array available = Napi::Array::New(env);
    for (image::SimdPath p : image::availableSimdPaths()) {
      available.Set(available.Length(), image::simdPathName(p));
    }
    result.Set("available", available);
    return result;
  });
}

// [sync] versions() → { libtorch, libtorchDir, cpuCapability, mkldnn, openmp, intraOpThreads,
// interOpThreads, nativeBf16, napi, libjpegTurbo, jpegAbi, libpng, libwebp, libwebpdemux, libavif,
// libtiff }: what the addon
// was built against and runs with (js/versions.js, `chori-torch doctor`).
Napi::Value Versions(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const model::RuntimeInfo torch = model::runtimeInfo();
    const image::LibraryVersions images = image::libraryVersions();
    Napi::Object out = Napi::Object::New(env);
    out.Set("libtorch", torch.torchVersion);
    out.Set("libtorchDir", torch.libtorchDir);
    out.Set("cpuCapability", torch.cpuCapability);
    out.Set("mkldnn", torch.mkldnnVersion);
    out.Set("openmp", torch.openmpVersion);
    out.Set("intraOpThreads", torch.intraOpThreads);
    out.Set("interOpThreads", torch.interOpThreads);
    out.Set("nativeBf16", torch.nativeBf16);
    out.Set("napi", NAPI_VERSION);
    out.Set("libjpegTurbo", images.libjpegTurbo);
    out.Set("jpegAbi", images.jpegAbi);
    out.Set("libpng", images.libpng);
    out.Set("libwebp", images.libwebp);
    out.Set("libwebpdemux", images.libwebpdemux);
    out.Set("libavif", images.libavif);
    out.Set("libtiff", images.libtiff);
    return out;
  });
}

const char* driverState(model::DriverProbe::State state) {
  switch (state) {
    case model::DriverProbe::State::NoDriver:
      return "no-driver";
    case model::DriverProbe::State::DriverError:
      return "driver-error";
    case model::DriverProbe::State::NoDevice:
      return "no-device";
    case model::DriverProbe::State::Ready:
      return "ready";
  }
  return "no-driver";
}

// [sync, blocking] gpus() → { libtorchCuda: boolean, libtorchCudaPath, driver: "no-driver" |
// "driver-error" | "no-device" | "ready", detail, driverCuda: "13.0" | "", runtime: string,
// devices: [{ index, name, totalMemory, computeCapability }] }: what the NVIDIA driver reports
// (libcuda.so.1, loaded by this call; libtorch's CUDA part is not), for `doctor` and `versions`.
Napi::Value Gpus(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const model::DriverProbe probe = model::probeCudaDriver();
    Napi::Object out = Napi::Object::New(env);
    out.Set("libtorchCuda", model::libtorchHasCuda());
    out.Set("libtorchCudaPath", model::libtorchCudaPath());
    out.Set("driver", driverState(probe.state));
    out.Set("detail", probe.detail);
    out.Set("driverCuda", probe.driverVersion > 0 ? std::to_string(probe.driverVersion / 1000) + "." +
                                                        std::to_string(probe.driverVersion % 1000 / 10)
                                                  : std::string());
    out.Set("runtime", model::cudaRuntimeSummary());
    Napi::Array devices = Napi::Array::New(env);
    for (const auto& gpu : probe.gpus) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("index", gpu.index);
      d.Set("name", gpu.name);
      d.Set("totalMemory", static_cast<double>(gpu.totalMemory));
      d.Set("computeCapability", std::to_string(gpu.major) + "." + std::to_string(gpu.minor));
      devices.Set(devices.Length(), d);
    }
    out.Set("devices", devices);
    return out;
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // See model::preloadCuda: for processes that run CPU forwards before their first CUDA load.
  if (const char* preload = std::getenv("CHORI_TORCH_PRELOAD_CUDA"); preload != nullptr && std::string(preload) == "1") {
    model::preloadCuda();
  }
  exports.Set("NativeModel", ModelWrap::Define(env));
  exports.Set("load", Napi::Function::New<Load>(env, "load"));
  exports.Set("torchVersion", Napi::String::New(env, TORCH_VERSION));
  exports.Set("closeAll", Napi::Function::New<CloseAll>(env, "closeAll"));
  exports.Set("simd", Napi::Function::New<Simd>(env, "simd"));
  exports.Set("versions", Napi::Function::New<Versions>(env, "versions"));
  exports.Set("gpus", Napi::Function::New<Gpus>(env, "gpus"));
  return exports;
}

}  // namespace
}  // namespace chori::binding

static Napi::Object InitChoriTorch(Napi::Env env, Napi::Object exports) {
  return chori::binding::Init(env, exports);
}

NODE_API_MODULE(chori_torch, InitChoriTorch)
