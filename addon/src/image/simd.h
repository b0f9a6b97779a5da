// Which vector instructions the resampler uses: chosen once, at first use, from what the CPU
// offers (or from CHORI_SIMD, to force a path for tests and benchmarks). Every path computes
// the same integers, so the choice changes speed, never a pixel.
#pragma once

#include <string>
#include <vector>

namespace chori::image {

enum class SimdPath { Scalar, Sse2, Avx2, Avx512 };

// "scalar", "sse2", "avx2", "avx512": the names CHORI_SIMD takes.
const char* simdPathName(SimdPath path);

// The paths this build and this CPU can run, slowest first; always starts with Scalar.
std::vector<SimdPath> availableSimdPaths();

// CHORI_SIMD when set (throws chori::Error CHORI_INTERNAL naming the paths available when the
// value is unknown or the CPU lacks it), else the fastest available path. Decided once per
// process; a failed decision is retried (and fails the same way) on the next call.
SimdPath activeSimdPath();

}  // namespace chori::image
