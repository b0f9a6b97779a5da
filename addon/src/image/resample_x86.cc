// Pillow Resample.c's two 8-bit passes with SSE2, AVX2 and AVX-512 (F + BW): the same integer
// sums as the scalar kernels in resample.cc, so every output byte is Pillow's.
//
// Why it is exact. x86 multiplies 16-bit pairs into exact 32-bit sums (pmaddwd) but Pillow's
// weights have 22 fractional bits. Each weight is split as w = hi * 4096 + lo with
// lo = w & 4095 in [0, 4096) and hi = w >> 12 (floor), which fits 16 bits while |w| < 2^26
// (Coefficients::splittable). With a pixel p in 0..255, sum(p * w) =
// (sum(p * hi) << 12) + sum(p * lo) holds exactly in wrapping 32-bit arithmetic, which is
// also what Pillow's `int` sums do; integer addition is associative, so lanes and taps may be
// added in any order. An odd last tap pairs with a zero weight, and bytes loaded beyond a
// pair's pixels meet zero weights or are shuffled out: they add 0. The bias 1 << 21, the
// arithmetic >> 22 and the saturating packs to 0..255 are clip8.
//
// Why target attributes. One translation unit, compiled with the project's flags; each vector
// function carries __attribute__((target(...))), and resample.cc calls one only after
// image/simd.h found the instructions on this CPU. node-gyp has no per-source flags, and
// attributes keep the dispatch and the kernels next to each other.
#include <algorithm>
#include <cstring>
#include <vector>

#include "image/resample_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && !defined(CHORI_NO_SIMD)
#include <immintrin.h>

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_*()
// (GCC bug 105593); the kernels read no uninitialised value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define CHORI_AVX2 __attribute__((target("avx2")))
#define CHORI_AVX512 __attribute__((target("avx2,avx512f,avx512bw")))

namespace chori::image::detail {

namespace {

// ---- shared preparation (plain C++) ----------------------------------------------------------

inline int32_t weightLo(int32_t w) { return w & 4095; }
inline int32_t weightHi(int32_t w) { return w >> 12; }  // floor: w = hi * 4096 + lo

// Two 16-bit weights in one 32-bit lane, as pmaddwd pairs them with two 16-bit pixels.
inline int32_t pairOf(int32_t first, int32_t second) {
  return static_cast<int32_t>(static_cast<uint16_t>(first) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(second)) << 16));
}

// Horizontal weights, two taps per step (one pair per 128-bit slot): per output and pair, a
// lo slot then a hi slot, each the pair's weights in the r, g, b lanes and 0 in the fourth.
// `fast[i]`: every load of output i (`load` bytes from each pair's first pixel) stays inside
// the source row; else Pillow's scalar loop runs for it.
struct HorizontalWeights {
  int pairsMax = 0;
  std::vector<int32_t> lanes;
  std::vector<int> pairs;
  std::vector<uint8_t> fast;

  int outputs() const { return static_cast<int>(pairs.size()); }
  const int32_t* of(int i) const { return &lanes[static_cast<size_t>(i) * pairsMax * 8]; }
};

HorizontalWeights horizontalWeights(const HorizontalPass& p, int load) {
  const Coefficients& c = p.c;
  const int n = static_cast<int>(c.start.size());
  HorizontalWeights hw;
  hw.pairsMax = (c.ksize + 1) / 2;
  hw.lanes.assign(static_cast<size_t>(n) * hw.pairsMax * 8, 0);
  hw.pairs.resize(n);
  hw.fast.resize(n);
  for (int i = 0; i < n; ++i) {
    const int32_t* k = &c.weight[static_cast<size_t>(i) * c.ksize];
    const int taps = c.count[i];
    const int pairs = (taps + 1) / 2;
    int32_t* w = &hw.lanes[static_cast<size_t>(i) * hw.pairsMax * 8];
    for (int q = 0; q < pairs; ++q, w += 8) {
      const int32_t w0 = k[2 * q];
      const int32_t w1 = 2 * q + 1 < taps ? k[2 * q + 1] : 0;
      w[0] = w[1] = w[2] = pairOf(weightLo(w0), weightLo(w1));
      w[4] = w[5] = w[6] = pairOf(weightHi(w0), weightHi(w1));
    }
    const long lastByte = (static_cast<long>(c.start[i] - p.colOffset) + 2L * (pairs - 1)) * 3 + load;
    hw.pairs[i] = pairs;
    hw.fast[i] = pairs > 0 && lastByte <= static_cast<long>(p.srcCols) * 3;
  }
  return hw;
}

// Vertical taps of one output row, paired for pmaddwd: rows 2q and 2q + 1 with their weights'
// lo and hi halves; an odd last tap pairs with itself at weight 0.
struct VerticalTaps {
  int pairs = 0;
  std::vector<const uint8_t*> row;
  std::vector<int32_t> lo, hi;

  explicit VerticalTaps(int ksize) : row(ksize + 1), lo((ksize + 1) / 2), hi((ksize + 1) / 2) {}

  void set(const VerticalPass& p, int i) {
    const int32_t* k = &p.c.weight[static_cast<size_t>(i) * p.c.ksize];
    const int taps = p.c.count[i];
    const uint8_t* first = p.src + static_cast<size_t>(p.c.start[i] - p.rowOffset) * p.srcStride;
    pairs = (taps + 1) / 2;
    for (int t = 0; t < taps; ++t) row[t] = first + static_cast<size_t>(t) * p.srcStride;
    if (taps > 0) row[taps] = row[taps - 1];
    for (int q = 0; q < pairs; ++q) {
      const int32_t w0 = k[2 * q];
      const int32_t w1 = 2 * q + 1 < taps ? k[2 * q + 1] : 0;
      lo[q] = pairOf(weightLo(w0), weightLo(w1));
      hi[q] = pairOf(weightHi(w0), weightHi(w1));
    }
  }
};

// Stores the r, g, b bytes of the low lane's sums (the fourth lane is padding). `spare`: the
// byte after them may be overwritten (the next output of the row is written later).
inline void storeRgb(__m128i bytes, uint8_t* out, bool spare) {
  const uint32_t rgb = static_cast<uint32_t>(_mm_cvtsi128_si32(bytes));
  if (spare) {
    std::memcpy(out, &rgb, 4);
    return;
  }
  out[0] = static_cast<uint8_t>(rgb);
  out[1] = static_cast<uint8_t>(rgb >> 8);
  out[2] = static_cast<uint8_t>(rgb >> 16);
}

// ---- SSE2 ----------------------------------------------------------------------------------

// (hi << 12) + lo + bias, >> PRECISION_BITS; the packs that follow saturate to 0..255.
inline __m128i finishSse2(__m128i lo, __m128i hi) {
  const __m128i sum = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(hi, 12), lo),
                                    _mm_set1_epi32(static_cast<int>(kRoundingBias)));
  return _mm_srai_epi32(sum, kPrecisionBits);
}

inline __m128i packSse2(__m128i v) {
  return _mm_packus_epi16(_mm_packs_epi32(v, v), _mm_setzero_si128());
}

// One output pixel, two taps per step: 8 bytes r0 g0 b0 r1 g1 b1 … → 16-bit lanes
// r0 r1 g0 g1 b0 b1 x x against the pair's weights.
inline void pixelSse2(const uint8_t* p, const int32_t* w, int steps, uint8_t* out, bool spare) {
  const __m128i zero = _mm_setzero_si128();
  __m128i lo = zero, hi = zero;
  for (int s = 0; s < steps; ++s, p += 6, w += 8) {
    const __m128i x = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    const __m128i pixels = _mm_unpacklo_epi8(_mm_unpacklo_epi8(x, _mm_srli_si128(x, 3)), zero);
    lo = _mm_add_epi32(lo, _mm_madd_epi16(pixels, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w))));
    hi = _mm_add_epi32(hi, _mm_madd_epi16(pixels, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 4))));
  }
  storeRgb(packSse2(finishSse2(lo, hi)), out, spare);
}

// 16 output bytes of a vertical pass from `done`: both rows of a pair interleaved byte by byte,
// widened to 16 bits, against the pair's weights. Returns the bytes written.
size_t verticalSse2Blocks(const VerticalTaps& t, size_t done, size_t rowBytes, uint8_t* out) {
  const __m128i zero = _mm_setzero_si128();
  for (; done + 16 <= rowBytes; done += 16) {
    __m128i lo[4] = {zero, zero, zero, zero}, hi[4] = {zero, zero, zero, zero};
    for (int q = 0; q < t.pairs; ++q) {
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.row[2 * q] + done));
      const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.row[2 * q + 1] + done));
      const __m128i a = _mm_unpacklo_epi8(r0, r1);
      const __m128i b = _mm_unpackhi_epi8(r0, r1);
      const __m128i px[4] = {_mm_unpacklo_epi8(a, zero), _mm_unpackhi_epi8(a, zero),
                             _mm_unpacklo_epi8(b, zero), _mm_unpackhi_epi8(b, zero)};
      const __m128i wl = _mm_set1_epi32(t.lo[q]);
      const __m128i wh = _mm_set1_epi32(t.hi[q]);
      for (int j = 0; j < 4; ++j) {
        lo[j] = _mm_add_epi32(lo[j], _mm_madd_epi16(px[j], wl));
        hi[j] = _mm_add_epi32(hi[j], _mm_madd_epi16(px[j], wh));
      }
    }
    const __m128i low = _mm_packs_epi32(finishSse2(lo[0], hi[0]), finishSse2(lo[1], hi[1]));
    const __m128i high = _mm_packs_epi32(finishSse2(lo[2], hi[2]), finishSse2(lo[3], hi[3]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + done), _mm_packus_epi16(low, high));
  }
  return done;
}

// ---- AVX2 ----------------------------------------------------------------------------------

CHORI_AVX2 inline __m256i finishAvx2(__m256i lo, __m256i hi) {
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi, 12), lo),
                                       _mm256_set1_epi32(static_cast<int>(kRoundingBias)));
  return _mm256_srai_epi32(sum, kPrecisionBits);
}

// Output i of two rows at once, one per 128-bit half, with the same weights: per pair of
// taps, 16 bytes loaded (6 used) shuffled to 16-bit lanes r0 r1 g0 g1 b0 b1 0 0.
CHORI_AVX2 inline void pixelsAvx2(const uint8_t* const in[2], size_t at, const int32_t* w,
                                  int pairs, uint8_t* const out[2], size_t to, bool spare) {
  const __m256i shuffle = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
                                           0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int q = 0; q < pairs; ++q, at += 6, w += 8) {
    const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[0] + at));
    const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[1] + at));
    const __m256i pixels = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(x0), x1, 1), shuffle);
    const __m256i wl = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
    const __m256i wh = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 4)));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(pixels, wl));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(pixels, wh));
  }
  const __m256i v = finishAvx2(lo, hi);
  const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
  storeRgb(_mm256_castsi256_si128(bytes), out[0] + to, spare);
  storeRgb(_mm256_extracti128_si256(bytes, 1), out[1] + to, spare);
}

// 32 bytes a step; unpack and pack both work within 128-bit halves, so the bytes come out in
// order. The rest goes to the SSE2 blocks, then to the scalar bytes.
CHORI_AVX2 size_t verticalAvx2Blocks(const VerticalTaps& t, size_t done, size_t rowBytes, uint8_t* out) {
  const __m256i zero = _mm256_setzero_si256();
  for (; done + 32 <= rowBytes; done += 32) {
    __m256i lo[4] = {zero, zero, zero, zero}, hi[4] = {zero, zero, zero, zero};
    for (int q = 0; q < t.pairs; ++q) {
      const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.row[2 * q] + done));
      const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.row[2 * q + 1] + done));
      const __m256i a = _mm256_unpacklo_epi8(r0, r1);
      const __m256i b = _mm256_unpackhi_epi8(r0, r1);
      const __m256i px[4] = {_mm256_unpacklo_epi8(a, zero), _mm256_unpackhi_epi8(a, zero),
                             _mm256_unpacklo_epi8(b, zero), _mm256_unpackhi_epi8(b, zero)};
      const __m256i wl = _mm256_set1_epi32(t.lo[q]);
      const __m256i wh = _mm256_set1_epi32(t.hi[q]);
      for (int j = 0; j < 4; ++j) {
        lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(px[j], wl));
        hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(px[j], wh));
      }
    }
    const __m256i low = _mm256_packs_epi32(finishAvx2(lo[0], hi[0]), finishAvx2(lo[1], hi[1]));
    const __m256i high = _mm256_packs_epi32(finishAvx2(lo[2], hi[2]), finishAvx2(lo[3], hi[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + done), _mm256_packus_epi16(low, high));
  }
  return verticalSse2Blocks(t, done, rowBytes, out);
}

// ---- AVX-512 -------------------------------------------------------------------------------

CHORI_AVX512 inline __m512i finishAvx512(__m512i lo, __m512i hi) {
  const __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(hi, 12), lo),
                                       _mm512_set1_epi32(static_cast<int>(kRoundingBias)));
  return _mm512_srai_epi32(sum, kPrecisionBits);
}

// Output i of four rows at once, one per 128-bit lane, as pixelsAvx2.
CHORI_AVX512 inline void pixelsAvx512(const uint8_t* const in[4], size_t at, const int32_t* w,
                                      int pairs, uint8_t* const out[4], size_t to, bool spare) {
  const __m512i shuffle = _mm512_broadcast_i32x4(
      _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1));
  __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
  for (int q = 0; q < pairs; ++q, at += 6, w += 8) {
    __m512i x = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in[0] + at)));
    x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[1] + at)), 1);
    x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[2] + at)), 2);
    x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[3] + at)), 3);
    const __m512i pixels = _mm512_shuffle_epi8(x, shuffle);
    const __m512i wl = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
    const __m512i wh = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 4)));
    lo = _mm512_add_epi32(lo, _mm512_madd_epi16(pixels, wl));
    hi = _mm512_add_epi32(hi, _mm512_madd_epi16(pixels, wh));
  }
  const __m512i v = finishAvx512(lo, hi);
  const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(v, v), _mm512_setzero_si512());
  storeRgb(_mm512_castsi512_si128(bytes), out[0] + to, spare);
  storeRgb(_mm512_extracti32x4_epi32(bytes, 1), out[1] + to, spare);
  storeRgb(_mm512_extracti32x4_epi32(bytes, 2), out[2] + to, spare);
  storeRgb(_mm512_extracti32x4_epi32(bytes, 3), out[3] + to, spare);
}

// 64 bytes a step, the last step masked (masked-off bytes are neither read nor written), so a
// row needs no scalar tail.
CHORI_AVX512 void verticalAvx512Row(const VerticalTaps& t, size_t rowBytes, uint8_t* out) {
  const __m512i zero = _mm512_setzero_si512();
  for (size_t done = 0; done < rowBytes; done += 64) {
    const size_t left = rowBytes - done;
    const __mmask64 mask = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
    __m512i lo[4] = {zero, zero, zero, zero}, hi[4] = {zero, zero, zero, zero};
    for (int q = 0; q < t.pairs; ++q) {
      const __m512i r0 = _mm512_maskz_loadu_epi8(mask, t.row[2 * q] + done);
      const __m512i r1 = _mm512_maskz_loadu_epi8(mask, t.row[2 * q + 1] + done);
      const __m512i a = _mm512_unpacklo_epi8(r0, r1);
      const __m512i b = _mm512_unpackhi_epi8(r0, r1);
      const __m512i px[4] = {_mm512_unpacklo_epi8(a, zero), _mm512_unpackhi_epi8(a, zero),
                             _mm512_unpacklo_epi8(b, zero), _mm512_unpackhi_epi8(b, zero)};
      const __m512i wl = _mm512_set1_epi32(t.lo[q]);
      const __m512i wh = _mm512_set1_epi32(t.hi[q]);
      for (int j = 0; j < 4; ++j) {
        lo[j] = _mm512_add_epi32(lo[j], _mm512_madd_epi16(px[j], wl));
        hi[j] = _mm512_add_epi32(hi[j], _mm512_madd_epi16(px[j], wh));
      }
    }
    const __m512i low = _mm512_packs_epi32(finishAvx512(lo[0], hi[0]), finishAvx512(lo[1], hi[1]));
    const __m512i high = _mm512_packs_epi32(finishAvx512(lo[2], hi[2]), finishAvx512(lo[3], hi[3]));
    _mm512_mask_storeu_epi8(out + done, mask, _mm512_packus_epi16(low, high));
  }
}

// ---- drivers -------------------------------------------------------------------------------

// Output rows with no taps (never produced by Pillow's filters) and the bytes a kernel's
// blocks leave go to the scalar loop.
template <size_t (*Blocks)(const VerticalTaps&, size_t, size_t, uint8_t*)>
void verticalRows(const VerticalPass& p) {
  VerticalTaps taps(p.c.ksize);
  std::vector<uint32_t> acc(p.rowBytes);
  for (int i = 0; i < static_cast<int>(p.c.start.size()); ++i) {
    size_t done = 0;
    if (p.c.count[i] > 0) {
      taps.set(p, i);
      done = Blocks(taps, 0, p.rowBytes, p.dst + static_cast<size_t>(i) * p.dstStride);
    }
    if (done < p.rowBytes) verticalBytes(p, i, done, acc.data());
  }
}

CHORI_AVX512 size_t verticalAvx512Blocks(const VerticalTaps& t, size_t done, size_t rowBytes, uint8_t* out) {
  verticalAvx512Row(t, rowBytes - done, out + done);
  return rowBytes;
}

// The rows of a horizontal pass, `R` at a time through `rows`: a function compiled for the
// kernel's instructions, so that the kernel inlines into it. Past the last row, the last one
// again (computed and written twice, the same bytes).
template <int R>
using HorizontalRows = void (*)(const HorizontalPass&, const HorizontalWeights&,
                                const uint8_t* const in[R], uint8_t* const out[R]);

template <int R>
void horizontalRows(const HorizontalPass& p, const HorizontalWeights& hw, HorizontalRows<R> rows) {
  for (int y = 0; y < p.rows; y += R) {
    const uint8_t* in[R];
    uint8_t* out[R];
    for (int r = 0; r < R; ++r) {
      const int row = std::min(y + r, p.rows - 1);
      in[r] = p.src + row * p.srcStride;
      out[r] = p.dst + row * p.dstStride;
    }
    rows(p, hw, in, out);
  }
}

// Where output i reads and writes in its rows.
inline size_t sourceAt(const HorizontalPass& p, int i) {
  return static_cast<size_t>(p.c.start[i] - p.colOffset) * 3;
}

template <int R>
inline void scalarPixels(const HorizontalPass& p, int i, const uint8_t* const in[R],
                         uint8_t* const out[R]) {
  const int32_t* k = &p.c.weight[static_cast<size_t>(i) * p.c.ksize];
  for (int r = 0; r < R; ++r) horizontalPixel(in[r] + sourceAt(p, i), k, p.c.count[i], out[r] + 3 * i);
}

void rowsSse2(const HorizontalPass& p, const HorizontalWeights& hw, const uint8_t* const in[1],
              uint8_t* const out[1]) {
  const int n = hw.outputs();
  for (int i = 0; i < n; ++i) {
    if (!hw.fast[i]) {
      scalarPixels<1>(p, i, in, out);
    } else {
      pixelSse2(in[0] + sourceAt(p, i), hw.of(i), hw.pairs[i], out[0] + 3 * i, i + 1 < n);
    }
  }
}

CHORI_AVX2 void rowsAvx2(const HorizontalPass& p, const HorizontalWeights& hw,
                         const uint8_t* const in[2], uint8_t* const out[2]) {
  const int n = hw.outputs();
  for (int i = 0; i < n; ++i) {
    if (!hw.fast[i]) {
      scalarPixels<2>(p, i, in, out);
    } else {
      pixelsAvx2(in, sourceAt(p, i), hw.of(i), hw.pairs[i], out, 3 * i, i + 1 < n);
    }
  }
}

CHORI_AVX512 void rowsAvx512(const HorizontalPass& p, const HorizontalWeights& hw,
                             const uint8_t* const in[4], uint8_t* const out[4]) {
  const int n = hw.outputs();
  for (int i = 0; i < n; ++i) {
    if (!hw.fast[i]) {
      scalarPixels<4>(p, i, in, out);
    } else {
      pixelsAvx512(in, sourceAt(p, i), hw.of(i), hw.pairs[i], out, 3 * i, i + 1 < n);
    }
  }
}

}  // namespace

// Rows at a time and bytes per load: SSE2 1 and 8, AVX2 2 and 16, AVX-512 4 and 16.
void horizontalSse2(const HorizontalPass& p) { horizontalRows<1>(p, horizontalWeights(p, 8), rowsSse2); }
void horizontalAvx2(const HorizontalPass& p) { horizontalRows<2>(p, horizontalWeights(p, 16), rowsAvx2); }
void horizontalAvx512(const HorizontalPass& p) {
  horizontalRows<4>(p, horizontalWeights(p, 16), rowsAvx512);
}

void verticalSse2(const VerticalPass& p) { verticalRows<verticalSse2Blocks>(p); }
void verticalAvx2(const VerticalPass& p) { verticalRows<verticalAvx2Blocks>(p); }
void verticalAvx512(const VerticalPass& p) { verticalRows<verticalAvx512Blocks>(p); }

}  // namespace chori::image::detail

#else  // no x86 kernels in this build: image/simd.h never selects them

namespace chori::image::detail {
void horizontalSse2(const HorizontalPass& p) { horizontalScalar(p); }
void verticalSse2(const VerticalPass& p) { verticalScalar(p); }
void horizontalAvx2(const HorizontalPass& p) { horizontalScalar(p); }
void verticalAvx2(const VerticalPass& p) { verticalScalar(p); }
void horizontalAvx512(const HorizontalPass& p) { horizontalScalar(p); }
void verticalAvx512(const VerticalPass& p) { verticalScalar(p); }
}  // namespace chori::image::detail

#endif
