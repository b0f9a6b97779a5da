// Private to the image pipeline: Pillow's resize evaluated on a window of the output,
// so a centre crop costs only the pixels it keeps; and the integer kernels of its two passes,
// one per instruction set (resample.cc: scalar; resample_x86.cc: SSE2, AVX2, AVX-512).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "image/image.h"
#include "image/resample.h"

namespace chori::image::detail {

// Writes the pixels [x0, x1) × [y0, y1) of resize(in, width, height, filter) to `out`
// (RGB rows of `outStride` bytes). Each pixel equals the one Pillow computes for the full
// output: the same coefficients, the same integer sums. Requires 0 <= x0 < x1 <= width,
// 0 <= y0 < y1 <= height and a size that differs from the input's.
void resizeWindow(const RgbImage& in, int width, int height, Filter filter, int x0, int y0,
                  int x1, int y1, uint8_t* out, size_t outStride);

// Pillow Resample.c: PRECISION_BITS = 32 - 8 - 2 (8 bits of result, 2 for overflow).
inline constexpr int kPrecisionBits = 32 - 8 - 2;
inline constexpr uint32_t kRoundingBias = 1u << (kPrecisionBits - 1);  // Pillow: ss = 1 << (PB-1)

// Fixed-point taps for the outputs [first, last) of a 1-D resize inSize → outSize.
struct Coefficients {
  int ksize = 0;
  std::vector<int> start;       // first input index of each output
  std::vector<int> count;       // number of taps of each output
  std::vector<int32_t> weight;  // ksize per output, PRECISION_BITS fixed point
  bool splittable = true;       // every weight's high part fits 16 bits (the vector kernels)
};

// Pillow ImagingResampleHorizontal_8bpc on `rows` rows of `srcCols` pixels; `src` column c
// holds input column c + colOffset.
struct HorizontalPass {
  const uint8_t* src;
  size_t srcStride;
  int srcCols;
  int colOffset;
  int rows;
  const Coefficients& c;
  uint8_t* dst;
  size_t dstStride;
};

// Pillow ImagingResampleVertical_8bpc on rows of `rowBytes` bytes; `src` row r holds input
// row r + rowOffset.
struct VerticalPass {
  const uint8_t* src;
  size_t srcStride;
  int rowOffset;
  size_t rowBytes;
  const Coefficients& c;
  uint8_t* dst;
  size_t dstStride;
};

// Pillow clip8: the sum >> PRECISION_BITS, clamped to 0..255. Sums are kept in unsigned
// arithmetic (the same bits as Pillow's int sums, without signed-overflow UB).
inline uint8_t clip8(uint32_t sum) {
  const int32_t v = static_cast<int32_t>(sum) >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Pillow ImagingResampleHorizontal_8bpc for one output pixel, taps at `p`.
inline void horizontalPixel(const uint8_t* p, const int32_t* k, int taps, uint8_t* out) {
  uint32_t s0 = kRoundingBias, s1 = kRoundingBias, s2 = kRoundingBias;
  for (int t = 0; t < taps; ++t, p += 3) {
    const uint32_t w = static_cast<uint32_t>(k[t]);
    s0 += p[0] * w;
    s1 += p[1] * w;
    s2 += p[2] * w;
  }
  out[0] = clip8(s0);
  out[1] = clip8(s1);
  out[2] = clip8(s2);
}

// Pillow ImagingResampleVertical_8bpc for the bytes [from, rowBytes) of output row i; `acc`
// holds at least rowBytes sums. Same sums as Pillow's (integer addition in another order
// gives the same result), computed a row at a time.
void verticalBytes(const VerticalPass& p, int i, size_t from, uint32_t* acc);

void horizontalScalar(const HorizontalPass& p);
void verticalScalar(const VerticalPass& p);
// resample_x86.cc; each requires c.splittable and a CPU with the instructions.
void horizontalSse2(const HorizontalPass& p);
void verticalSse2(const VerticalPass& p);
void horizontalAvx2(const HorizontalPass& p);
void verticalAvx2(const VerticalPass& p);
void horizontalAvx512(const HorizontalPass& p);
void verticalAvx512(const VerticalPass& p);

}  // namespace chori::image::detail
