#include "model/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/cpu/Utils.h>
#include <torch/version.h>

namespace chori::model {

namespace {

template <typename F>
auto orDefault(F&& f, decltype(f()) fallback) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return fallback;
  }
}

bool hasNativeBf16() {
  const auto capabilities = at::cpu::get_cpu_capabilities();
  auto flag = [&](const char* name) {
    auto it = capabilities.find(name);
    return it != capabilities.end() && it->second.isBool() && it->second.toBool();
  };
  return flag("avx512_bf16") || flag("amx_bf16");
}

}  // namespace

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.torchVersion = TORCH_VERSION;
#ifdef CHORI_LIBTORCH_DIR
  info.libtorchDir = CHORI_LIBTORCH_DIR;
#endif
  info.cpuCapability = orDefault([] { return at::get_cpu_capability(); }, std::string());
  info.mkldnnVersion = orDefault([] { return at::get_mkldnn_version(); }, std::string());
  info.openmpVersion = orDefault([] { return at::get_openmp_version(); }, std::string());
  info.intraOpThreads = orDefault([] { return at::get_num_threads(); }, 0);
  info.interOpThreads = orDefault([] { return at::get_num_interop_threads(); }, 0);
  info.nativeBf16 = orDefault(hasNativeBf16, false);
  return info;
}

}  // namespace chori::model
