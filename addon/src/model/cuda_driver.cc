// The NVIDIA driver through its C API, looked up with dlsym: the addon neither links nor needs
// the CUDA toolkit to say whether a GPU is there, which one, and why not.
#include <dlfcn.h>

#include <mutex>

#include "model/device.h"

namespace chori::model {
namespace {

// cuda.h's types, reduced to what is called here (CUresult and CUdevice are ints).
using CUresult = int;
using CUdevice = int;
constexpr CUresult kSuccess = 0;
constexpr CUresult kNoDevice = 100;  // CUDA_ERROR_NO_DEVICE
constexpr int kComputeMajor = 75;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kComputeMinor = 76;

struct DriverApi {
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*driverGetVersion)(int*) = nullptr;
  CUresult (*deviceGetCount)(int*) = nullptr;
  CUresult (*deviceGet)(CUdevice*, int) = nullptr;
  CUresult (*deviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*deviceTotalMem)(size_t*, CUdevice) = nullptr;
  CUresult (*deviceGetAttribute)(int*, int, CUdevice) = nullptr;
  CUresult (*getErrorName)(CUresult, const char**) = nullptr;
  std::string loadError;  // empty when every symbol resolved

  std::string errorName(CUresult r) const {
    const char* name = nullptr;
    if (getErrorName != nullptr && getErrorName(r, &name) == kSuccess && name != nullptr) return name;
    return "CUresult " + std::to_string(r);
  }
};

template <typename F>
bool bind(void* lib, const char* symbol, F*& out) {
  out = reinterpret_cast<F*>(dlsym(lib, symbol));
  return out != nullptr;
}

const DriverApi& driver() {
  static DriverApi api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      api.loadError = why != nullptr ? why : "libcuda.so.1 not found";
      return;
    }
    const bool ok = bind(lib, "cuInit", api.init) && bind(lib, "cuDriverGetVersion", api.driverGetVersion) &&
                    bind(lib, "cuDeviceGetCount", api.deviceGetCount) && bind(lib, "cuDeviceGet", api.deviceGet) &&
                    bind(lib, "cuDeviceGetName", api.deviceGetName) &&
                    bind(lib, "cuDeviceTotalMem_v2", api.deviceTotalMem) &&
                    bind(lib, "cuDeviceGetAttribute", api.deviceGetAttribute) &&
                    bind(lib, "cuGetErrorName", api.getErrorName);
    if (!ok) api.loadError = "libcuda.so.1 lacks a driver API function (a stub or a very old driver)";
  });
  return api;
}

}  // namespace

DriverProbe probeCudaDriver() {
  DriverProbe probe;
  const DriverApi& api = driver();
  if (!api.loadError.empty()) {
    probe.detail = api.loadError;
    return probe;
  }
  api.driverGetVersion(&probe.driverVersion);
  if (CUresult r = api.init(0); r != kSuccess) {
    probe.state = r == kNoDevice ? DriverProbe::State::NoDevice : DriverProbe::State::DriverError;
    probe.detail = "cuInit: " + api.errorName(r);
    return probe;
  }
  int count = 0;
  if (CUresult r = api.deviceGetCount(&count); r != kSuccess) {
    probe.state = DriverProbe::State::DriverError;
    probe.detail = "cuDeviceGetCount: " + api.errorName(r);
    return probe;
  }
  for (int i = 0; i < count; ++i) {
    CUdevice dev = 0;
    if (api.deviceGet(&dev, i) != kSuccess) continue;
    GpuInfo gpu;
    gpu.index = i;
    char name[256] = {};
    if (api.deviceGetName(name, sizeof name - 1, dev) == kSuccess) gpu.name = name;
    size_t bytes = 0;
    if (api.deviceTotalMem(&bytes, dev) == kSuccess) gpu.totalMemory = static_cast<int64_t>(bytes);
    api.deviceGetAttribute(&gpu.major, kComputeMajor, dev);
    api.deviceGetAttribute(&gpu.minor, kComputeMinor, dev);
    probe.gpus.push_back(std::move(gpu));
  }
  probe.state = probe.gpus.empty() ? DriverProbe::State::NoDevice : DriverProbe::State::Ready;
  return probe;
}

}  // namespace chori::model
