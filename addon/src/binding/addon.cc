// Module entry: exports load() and the NativeModel class. js/native.js is the only caller.
#include <napi.h>
#include <uv.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "binding/errors.h"
#include "binding/load_options.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "chori/error.h"
#include "image/simd.h"
#include "image/versions.h"
#include "model/backend.h"
#include "model/batcher.h"
#include "model/device.h"
#include "model/loader.h"
#include "model/runtime.h"

namespace chori::binding {
namespace {

// Everything load() does, in one job on the libuv pool (model::loadModel); the NativeModel and
// its dispatcher are made on the JS thread once it has succeeded.
class LoadWorker final : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, model::LoadRequest request)
      : PromiseWorker(env), path_(std::move(path)), request_(std::move(request)) {}

 private:
  void Work() override { loaded_ = model::loadModel(path_, request_); }

  Napi::Value Result(Napi::Env env) override {
    const model::LoadInfo& i = loaded_.info;
    Napi::Object info = Napi::Object::New(env);
    info.Set("format", i.format);
    info.Set("optimize", i.optimize);
    info.Set("requestedOptimize", i.requestedOptimize);
    info.Set("warmupRuns", i.warmupRuns);
    info.Set("optimizeMs", i.optimizeMs);
    info.Set("warmupMs", i.warmupMs);
    info.Set("threads", i.threads);
    info.Set("workers", i.workers);
    info.Set("adaptive", i.adaptive);
    info.Set("precision", i.precision);
    info.Set("maxBatch", i.maxBatch);
    info.Set("device", i.device);
    info.Set("deterministic", i.deterministic);
    Napi::Array warnings = Napi::Array::New(env, i.warnings.size());
    for (uint32_t k = 0; k < i.warnings.size(); ++k) {
      Napi::Object w = Napi::Object::New(env);
      w.Set("code", i.warnings[k].code);
      w.Set("message", i.warnings[k].message);
      warnings.Set(k, w);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("info", info);
    result.Set("warnings", warnings);
    result.Set("model", ModelWrap::NewInstance(env, std::move(loaded_.classifier), request_.maxQueue));
    return result;
  }

  std::string path_;
  model::LoadRequest request_;
  model::LoadedModel loaded_;
};

// [async] load(path: string, options?: { threads, workers, precision, optimize, maxPixels, batch,
// maxBatch, maxDelayMs, maxQueue, device, deterministic }) → Promise<{ model: NativeModel, info,
// warnings: { code, message }[] }>: the whole of js/model.js load() below the validation (see
// model/loader.h). Throws CHORI_INVALID_ARGUMENT for an argument of the wrong type; rejects with
// CHORI_INVALID_ARGUMENT (a value out of range), CHORI_MODEL_LOAD, CHORI_MODEL_METADATA or
// CHORI_DEVICE.
Napi::Value Load(const Napi::CallbackInfo& info) {
  return atBoundary(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Error(code::kInvalidArgument, "load(path, options) needs a string path");
    model::LoadRequest request = readLoadRequest(info[1]);
    request.background = true;  // the event loop comes first (common/thread_priority.h)
    // What os.availableParallelism() says: the CPUs this process may run on.
    request.cores = static_cast<int>(uv_available_parallelism());
    auto* worker = new LoadWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(request));  // napi deletes it
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
