// Where a model runs: the CPU, or a CUDA device whose libraries are loaded only when a model
// asks for one. The addon links libtorch_cpu and c10 alone; libtorch_cuda.so (and through it
// cudart, cuDNN, cuBLAS) is dlopen'ed by prepareCuda(), so a CPU-only process never maps them
// and an addon built on a machine without a GPU still serves one elsewhere. No torch types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chori::model {

struct Device {
  bool cuda = false;
  int index = 0;  // the CUDA ordinal; 0 for the CPU
};

// "cpu", "cuda" (= cuda:0) or "cuda:N". Throws chori::Error(CHORI_INVALID_ARGUMENT) otherwise.
Device parseDevice(const std::string& name);
std::string deviceName(const Device& device);

// What the NVIDIA driver reports, read through its own API (libcuda.so.1, dlopen'ed), without
// libtorch: for `doctor`/`versions` and for naming why a CUDA device cannot be used.
struct GpuInfo {
  int index = 0;
  std::string name;
  int64_t totalMemory = 0;  // bytes
  int major = 0, minor = 0;  // compute capability
};

struct DriverProbe {
  enum class State { NoDriver, DriverError, NoDevice, Ready };
  State state = State::NoDriver;
  std::string detail;     // dlerror() or the CUresult name of the failing call
  int driverVersion = 0;  // the CUDA version the driver supports, as 1000 × major + 10 × minor
  std::vector<GpuInfo> gpus;
};

// [blocking] Never throws. Loads libcuda.so.1 once (never unloaded) when first called.
DriverProbe probeCudaDriver();

// Where the CUDA part of the linked libtorch lives, and whether it is there at all (a CPU-only
// wheel has no libtorch_cuda.so).
std::string libtorchCudaPath();
bool libtorchHasCuda();

// [blocking] Makes `device` usable by libtorch in this process: checks the build, the driver
// and the device, then loads libtorch_cuda.so (RTLD_GLOBAL, once). With `deterministic`, turns
// on cuDNN's deterministic algorithms and turns TF32 off (process-wide switches of libtorch).
// Throws chori::Error(CHORI_DEVICE) naming what is missing: a CPU-only libtorch, no driver, no
// device (or not that many), or CUDA libraries that do not load.
void prepareCuda(const Device& device, bool deterministic);

// Loads libtorch_cuda.so now when a driver and a device are there, ignoring failures (the
// loads that need it report them): for processes that will run CPU forwards before their first
// CUDA load (CHORI_TORCH_PRELOAD_CUDA=1; see cudaHooksRegistered in device.cc).
void preloadCuda();

// "CUDA runtime 13.0, cuDNN 9.13.0" once libtorch_cuda is loaded, else "".
std::string cudaRuntimeSummary();

}  // namespace chori::model
