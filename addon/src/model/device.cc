// The CPU/CUDA switch. Only prepareCuda() touches libtorch's CUDA side, and only after it has
// dlopen'ed libtorch_cuda.so: that library's static initialisers register the CUDA kernels,
// the device guard, the host allocator and ATen's CUDA hooks with libtorch_cpu, which the addon
// links, so everything after it goes through those registries and nothing here links CUDA.
#include "model/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <dlfcn.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "chori/error.h"

#ifndef CHORI_LIBTORCH_DIR
#error "CHORI_LIBTORCH_DIR must name the libtorch the build links (binding.gyp, CMakeLists.txt)"
#endif

namespace chori::model {
namespace {

std::string cudaVersion(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

std::atomic<bool> cudaLoaded{false};

// dlopen'ed once and never closed: its kernels stay registered for the life of the process.
const std::string& loadLibtorchCuda() {
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    if (dlopen(libtorchCudaPath().c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* why = dlerror();
      failure = why != nullptr ? why : "dlopen failed";
    } else {
      cudaLoaded = true;
    }
  });
  return failure;
}

// ATen looks its CUDA hooks up once, on first use, and keeps what it found: a CPU convolution
// asks them whether cuDNN applies, so a process that ran a CPU forward before libtorch_cuda.so
// was loaded has the CPU-only stub for good (whose versionCUDART() throws).
bool cudaHooksRegistered() {
  try {
    return at::detail::getCUDAHooks().versionCUDART() > 0;
  } catch (const std::exception&) {
    return false;
  }
}

[[noreturn]] void unusable(const Device& device, const std::string& why) {
  throw Error(code::kDevice, "device '" + deviceName(device) + "' is not usable here: " + why);
}

void checkDriver(const Device& device) {
  const DriverProbe probe = probeCudaDriver();
  switch (probe.state) {
    case DriverProbe::State::NoDriver:
      unusable(device, "no NVIDIA driver is installed (" + probe.detail + ")");
    case DriverProbe::State::DriverError:
      unusable(device, "the NVIDIA driver (CUDA " + cudaVersion(probe.driverVersion) + ") did not start (" +
                           probe.detail + "; see nvidia-smi)");
    case DriverProbe::State::NoDevice: {
      const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
      unusable(device, "no CUDA device: the NVIDIA driver (CUDA " + cudaVersion(probe.driverVersion) +
                           ") sees none (" + (probe.detail.empty() ? "0 devices" : probe.detail) +
                           (visible != nullptr ? std::string(", CUDA_VISIBLE_DEVICES=") + visible : "") + ")");
    }
    case DriverProbe::State::Ready:
      break;
  }
  const int count = static_cast<int>(probe.gpus.size());
  if (device.index >= count) {
    unusable(device, "no such CUDA device: the driver sees " + std::to_string(count) + " (cuda:0" +
                         (count > 1 ? " to cuda:" + std::to_string(count - 1) : "") + ")");
  }
}

}  // namespace

Device parseDevice(const std::string& name) {
  if (name == "cpu") return {};
  if (name == "cuda") return {true, 0};
  constexpr std::string_view prefix = "cuda:";
  if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) {
    const char* first = name.data() + prefix.size();
    const char* last = name.data() + name.size();
    int index = -1;
    auto [end, ec] = std::from_chars(first, last, index);
    if (ec == std::errc() && end == last && index >= 0 && index < 1024 && (*first != '0' || last - first == 1)) {
      return {true, index};
    }
  }
  throw Error(code::kInvalidArgument, "unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
}

std::string deviceName(const Device& device) {
  return device.cuda ? "cuda:" + std::to_string(device.index) : "cpu";
}

std::string libtorchCudaPath() { return std::string(CHORI_LIBTORCH_DIR) + "/lib/libtorch_cuda.so"; }

bool libtorchHasCuda() {
  std::error_code ec;
  return std::filesystem::exists(libtorchCudaPath(), ec);
}

void prepareCuda(const Device& device, bool deterministic) {
  if (!libtorchHasCuda()) {
    unusable(device, std::string("the addon's libtorch is a CPU-only build (") + CHORI_LIBTORCH_DIR +
                         " has no lib/libtorch_cuda.so): install a CUDA build of torch and rebuild the addon "
                         "(npx chori-torch build)");
  }
  checkDriver(device);
  if (const std::string& failure = loadLibtorchCuda(); !failure.empty()) {
    unusable(device, "libtorch's CUDA libraries did not load (" + failure + ")");
  }
  if (!cudaHooksRegistered()) {
    unusable(device, "this process ran a CPU forward before libtorch's CUDA part was loaded, and libtorch keeps "
                     "the CPU-only answer from then on: load CUDA models first, or start the process with "
                     "CHORI_TORCH_PRELOAD_CUDA=1");
  }
  const auto seen = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->deviceCount();
  if (device.index >= seen) {
    unusable(device, "libtorch's CUDA runtime " + cudaVersion(static_cast<int>(at::detail::getCUDAHooks().versionCUDART())) +
                         " sees " + std::to_string(seen) + " device(s) where the driver sees more: the driver is "
                         "probably older than this torch build's CUDA");
  }
  if (deterministic) {
    // What torch.backends.cudnn.deterministic = True, .benchmark = False and allow_tf32 = False
    // do in Python (python/chori_torch/device.py sets the same for `chori golden`).
    auto& context = at::globalContext();
    context.setDeterministicCuDNN(true);
    context.setBenchmarkCuDNN(false);
    context.setAllowTF32CuDNN(false);
    context.setAllowTF32CuBLAS(false);
  }
}

void preloadCuda() {
  if (libtorchHasCuda() && probeCudaDriver().state == DriverProbe::State::Ready) loadLibtorchCuda();
}

std::string cudaRuntimeSummary() {
  // Never asks the hooks before the load: the first question fixes their answer (above).
  if (!cudaLoaded || !cudaHooksRegistered()) return "";
  const auto& hooks = at::detail::getCUDAHooks();
  std::string summary = "CUDA runtime " + cudaVersion(static_cast<int>(hooks.versionCUDART()));
  try {
    const long cudnn = hooks.versionCuDNN();
    summary += ", cuDNN " + std::to_string(cudnn / 10000) + "." + std::to_string(cudnn % 10000 / 100) + "." +
               std::to_string(cudnn % 100);
  } catch (const std::exception&) {
  }
  return summary;
}

}  // namespace chori::model
