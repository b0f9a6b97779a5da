// CPU feature detection for the resampler's kernels (resample_x86.cc).
#include "image/simd.h"

#include <cstdlib>
#include <string>

#include "chori/error.h"

namespace chori::image {

namespace {

// What this build compiled: the x86 kernels exist unless CHORI_NO_SIMD or another target.
#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && !defined(CHORI_NO_SIMD)
constexpr bool kX86Kernels = true;
#else
constexpr bool kX86Kernels = false;
#endif

bool cpuHas(SimdPath path) {
  if (path == SimdPath::Scalar) return true;
  if constexpr (!kX86Kernels) {
    return false;
  } else {
    // libgcc / compiler-rt also check that the OS saves the ymm / zmm state (XGETBV).
    __builtin_cpu_init();
    switch (path) {
      case SimdPath::Sse2:
        return true;  // part of x86-64
      case SimdPath::Avx2:
        return __builtin_cpu_supports("avx2");
      case SimdPath::Avx512:
        // 512-bit byte and word operations (shuffle, unpack, pack, masked loads) are AVX512BW.
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
      case SimdPath::Scalar:
        break;
    }
    return true;
  }
}

constexpr SimdPath kAllPaths[] = {SimdPath::Scalar, SimdPath::Sse2, SimdPath::Avx2,
                                  SimdPath::Avx512};

std::string availableList() {
  std::string names;
  for (SimdPath p : availableSimdPaths()) names += (names.empty() ? "" : ", ") + std::string(simdPathName(p));
  return names;
}

SimdPath choosePath() {
  const std::vector<SimdPath> available = availableSimdPaths();
  const char* forced = std::getenv("CHORI_SIMD");
  if (forced == nullptr || *forced == '\0') return available.back();
  for (SimdPath p : kAllPaths) {
    if (std::string(forced) != simdPathName(p)) continue;
    if (cpuHas(p)) return p;
    throw Error(code::kInternal, std::string("CHORI_SIMD=") + forced +
                                     ": this CPU or build lacks it (available: " +
                                     availableList() + ")");
  }
  throw Error(code::kInternal, std::string("CHORI_SIMD=") + forced +
                                   " is not a path: expected one of scalar, sse2, avx2, avx512 "
                                   "(available here: " + availableList() + ")");
}

}  // namespace

const char* simdPathName(SimdPath path) {
  switch (path) {
    case SimdPath::Scalar:
      return "scalar";
    case SimdPath::Sse2:
      return "sse2";
    case SimdPath::Avx2:
      return "avx2";
    case SimdPath::Avx512:
      return "avx512";
  }
  return "scalar";
}

std::vector<SimdPath> availableSimdPaths() {
  std::vector<SimdPath> paths;
  for (SimdPath p : kAllPaths) {
    if (cpuHas(p)) paths.push_back(p);
  }
  return paths;
}

SimdPath activeSimdPath() {
  static const SimdPath path = choosePath();  // thread-safe; an exception leaves it unset
  return path;
}

}  // namespace chori::image
