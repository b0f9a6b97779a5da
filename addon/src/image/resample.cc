// Pillow's Image.resize for 8-bit RGB, reproduced bit for bit: src/libImaging/Resample.c
// (box, bilinear, hamming, bicubic, lanczos: two separable fixed-point passes, each run
// only when its size changes) and, for NEAREST, the affine scale path of
// src/libImaging/Geometry.c that src/_imaging.c `_resize` sends it to.
#include "image/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "chori/error.h"
#include "image/resample_internal.h"
#include "image/simd.h"

#include "image/strict_fp.h"  // coefficients round after every operation, as in Pillow

namespace chori::image {

namespace {

using detail::Coefficients;
using detail::kPrecisionBits;

constexpr double kPi = 3.14159265358979323846;  // M_PI

// Pillow Resample.c filters, same expressions in the same order.
double boxFilter(double x) {
  if (x > -0.5 && x <= 0.5) return 1.0;
  return 0.0;
}

double bilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double hammingFilter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // float constants, as in Pillow
}

double bicubicFilter(double x) {
  constexpr double a = -0.5;  // Pillow Resample.c: #define a -0.5
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sincFilter(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczosFilter(double x) {
  // Pillow Resample.c: truncated sinc, a = 3.
  if (-3.0 <= x && x < 3.0) return sincFilter(x) * sincFilter(x / 3);
  return 0.0;
}

struct FilterDef {
  double (*fn)(double);
  double support;
};

FilterDef filterDef(Filter filter) {
  switch (filter) {
    case Filter::Box:
      return {boxFilter, 0.5};
    case Filter::Bilinear:
      return {bilinearFilter, 1.0};
    case Filter::Hamming:
      return {hammingFilter, 1.0};
    case Filter::Bicubic:
      return {bicubicFilter, 2.0};
    case Filter::Lanczos:
      return {lanczosFilter, 3.0};
    case Filter::Nearest:
      break;
  }
  return {bilinearFilter, 1.0};  // unreachable: NEAREST never reaches Resample.c
}

Coefficients computeCoefficients(int inSize, int outSize, int first, int last,
                                 const FilterDef& filter) {
  // Pillow Resample.c precompute_coeffs with the box (in0, in1) = (0, inSize) as floats.
  const float in0 = 0.0f;
  const float in1 = static_cast<float>(inSize);
  const double scale = static_cast<double>(in1 - in0) / outSize;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;

  Coefficients c;
  c.ksize = ksize;
  const int n = last - first;
  c.start.resize(n);
  c.count.resize(n);
  c.weight.assign(static_cast<size_t>(n) * ksize, 0);
  std::vector<double> k(ksize);
  for (int xx = first; xx < last; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // Pillow: "Round the value"
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    if (xmax < 0) xmax = 0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    // Pillow: normalised by their sum (a division, not a multiply by the reciprocal).
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    // Pillow normalize_coeffs_8bpc: to fixed point, rounding half away from zero.
    int32_t* out = &c.weight[static_cast<size_t>(xx - first) * ksize];
    for (int x = 0; x < xmax; ++x) {
      out[x] = k[x] < 0 ? static_cast<int32_t>(-0.5 + k[x] * (1 << kPrecisionBits))
                        : static_cast<int32_t>(0.5 + k[x] * (1 << kPrecisionBits));
      if (out[x] < -(1 << 26) || out[x] >= (1 << 26)) c.splittable = false;
    }
    c.start[xx - first] = xmin;
    c.count[xx - first] = xmax;
  }
  return c;
}

// The kernels of the path chosen at first use (image/simd.h). The vector kernels split each
// weight into two 16-bit halves (resample_x86.cc), so they need weights that allow it; the
// filters Pillow has always do (|w| < 2^26), but the scalar kernels stay the reference.
struct Kernels {
  void (*horizontal)(const detail::HorizontalPass&);
  void (*vertical)(const detail::VerticalPass&);
};

Kernels kernelsFor(const Coefficients& c) {
  switch (c.splittable ? activeSimdPath() : SimdPath::Scalar) {
    case SimdPath::Sse2:
      return {detail::horizontalSse2, detail::verticalSse2};
    case SimdPath::Avx2:
      return {detail::horizontalAvx2, detail::verticalAvx2};
    case SimdPath::Avx512:
      return {detail::horizontalAvx512, detail::verticalAvx512};
    case SimdPath::Scalar:
      break;
  }
  return {detail::horizontalScalar, detail::verticalScalar};
}

void resampleHorizontal(const uint8_t* src, size_t srcStride, int srcCols, int colOffset,
                        int rows, const Coefficients& c, uint8_t* dst, size_t dstStride) {
  kernelsFor(c).horizontal({src, srcStride, srcCols, colOffset, rows, c, dst, dstStride});
}

void resampleVertical(const uint8_t* src, size_t srcStride, int rowOffset, size_t rowBytes,
                      const Coefficients& c, uint8_t* dst, size_t dstStride) {
  kernelsFor(c).vertical({src, srcStride, rowOffset, rowBytes, c, dst, dstStride});
}

// The input range [first, last) that a set of outputs reads.
std::pair<int, int> span(const Coefficients& c) {
  int first = c.start[0];
  int last = first;
  for (size_t i = 0; i < c.start.size(); ++i) {
    first = std::min(first, c.start[i]);
    last = std::max(last, c.start[i] + c.count[i]);
  }
  return {first, last};
}

// Pillow _imaging.c _resize, NEAREST: ImagingTransform(AFFINE, a = {w_in / w, 0, 0, 0,
// h_in / h, 0}) → Geometry.c ImagingScaleAffine, which walks the source positions by
// repeated addition from a * 0.5 and truncates them (COORD); outside the source → 0.
void nearestWindow(const RgbImage& in, int width, int height, int x0, int y0, int x1, int y1,
                   uint8_t* out, size_t outStride) {
  const float box[4] = {0.0f, 0.0f, static_cast<float>(in.width), static_cast<float>(in.height)};
  const double a0 = static_cast<double>(box[2] - box[0]) / width;
  const double a4 = static_cast<double>(box[3] - box[1]) / height;
  const double a2 = box[0];
  const double a5 = box[1];
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };

  std::vector<int> xin(static_cast<size_t>(x1 - x0));
  double xo = a2 + a0 * 0.5;
  for (int x = 0; x < x1; ++x) {
    if (x >= x0) {
      const int xi = coord(xo);
      xin[x - x0] = (xi >= 0 && xi < in.width) ? xi : -1;
    }
    xo += a0;
  }
  double yo = a5 + a4 * 0.5;
  for (int y = 0; y < y1; ++y) {
    if (y >= y0) {
      const int yi = coord(yo);
      uint8_t* o = out + static_cast<size_t>(y - y0) * outStride;
      if (yi >= 0 && yi < in.height) {
        const uint8_t* r = in.row(yi);
        for (int x = 0; x < x1 - x0; ++x) {
          const int xi = xin[x];
          if (xi >= 0) {
            std::memcpy(o + 3 * x, r + 3 * static_cast<size_t>(xi), 3);
          } else {
            std::memset(o + 3 * x, 0, 3);
          }
        }
      } else {
        std::memset(o, 0, static_cast<size_t>(x1 - x0) * 3);
      }
    }
    yo += a4;
  }
}

void copyWindow(const RgbImage& in, int x0, int y0, int x1, int y1, uint8_t* out,
                size_t outStride) {
  for (int y = y0; y < y1; ++y) {
    std::memcpy(out + static_cast<size_t>(y - y0) * outStride, in.row(y) + static_cast<size_t>(x0) * 3,
                static_cast<size_t>(x1 - x0) * 3);
  }
}

}  // namespace

namespace detail {

void horizontalScalar(const HorizontalPass& p) {
  const int n = static_cast<int>(p.c.start.size());
  for (int y = 0; y < p.rows; ++y) {
    const uint8_t* in = p.src + y * p.srcStride;
    uint8_t* out = p.dst + y * p.dstStride;
    for (int i = 0; i < n; ++i) {
      horizontalPixel(in + static_cast<size_t>(p.c.start[i] - p.colOffset) * 3,
                      &p.c.weight[static_cast<size_t>(i) * p.c.ksize], p.c.count[i], out + 3 * i);
    }
  }
}

void verticalBytes(const VerticalPass& p, int i, size_t from, uint32_t* acc) {
  const int32_t* k = &p.c.weight[static_cast<size_t>(i) * p.c.ksize];
  const uint8_t* first = p.src + static_cast<size_t>(p.c.start[i] - p.rowOffset) * p.srcStride;
  uint8_t* out = p.dst + static_cast<size_t>(i) * p.dstStride;
  std::fill(acc + from, acc + p.rowBytes, kRoundingBias);
  for (int t = 0; t < p.c.count[i]; ++t) {
    const uint8_t* in = first + static_cast<size_t>(t) * p.srcStride;
    const uint32_t w = static_cast<uint32_t>(k[t]);
    for (size_t b = from; b < p.rowBytes; ++b) acc[b] += in[b] * w;
  }
  for (size_t b = from; b < p.rowBytes; ++b) out[b] = clip8(acc[b]);
}

void verticalScalar(const VerticalPass& p) {
  std::vector<uint32_t> acc(p.rowBytes);
  for (int i = 0; i < static_cast<int>(p.c.start.size()); ++i) verticalBytes(p, i, 0, acc.data());
}

}  // namespace detail

namespace detail {

void resizeWindow(const RgbImage& in, int width, int height, Filter filter, int x0, int y0,
                  int x1, int y1, uint8_t* out, size_t outStride) {
  if (filter == Filter::Nearest) {
    nearestWindow(in, width, height, x0, y0, x1, y1, out, outStride);
    return;
  }
  const FilterDef def = filterDef(filter);
  // Pillow ImagingResampleInner: a pass runs only when its size changes.
  const bool needHorizontal = width != in.width;
  const bool needVertical = height != in.height;
  const size_t inStride = static_cast<size_t>(in.width) * 3;
  const size_t windowBytes = static_cast<size_t>(x1 - x0) * 3;

  if (!needHorizontal && !needVertical) {
    copyWindow(in, x0, y0, x1, y1, out, outStride);
    return;
  }
  if (!needVertical) {
    const Coefficients horizontal = computeCoefficients(in.width, width, x0, x1, def);
    resampleHorizontal(in.row(y0), inStride, in.width, 0, y1 - y0, horizontal, out, outStride);
    return;
  }
  const Coefficients vertical = computeCoefficients(in.height, height, y0, y1, def);
  if (!needHorizontal) {
    resampleVertical(in.pixels.data() + static_cast<size_t>(x0) * 3, inStride, 0, windowBytes,
                     vertical, out, outStride);
    return;
  }
  const Coefficients horizontal = computeCoefficients(in.width, width, x0, x1, def);
  // Pillow 13 ImagingResampleInner runs the vertical pass first when the height shrinks by
  // more than twice as many pixels as the width does (checked against Pillow 13.0 on
  // every shape class, boundary included: equality keeps horizontal first).
  const bool verticalFirst =
      height < in.height && (in.height - height) > 2 * (in.width - width);
  if (verticalFirst) {
    // Vertical pass over the source columns the horizontal pass reads, then horizontal.
    const auto [first, last] = span(horizontal);
    const size_t tempStride = static_cast<size_t>(last - first) * 3;
    std::vector<uint8_t> temp(tempStride * static_cast<size_t>(y1 - y0));
    resampleVertical(in.pixels.data() + static_cast<size_t>(first) * 3, inStride, 0, tempStride,
                     vertical, temp.data(), tempStride);
    resampleHorizontal(temp.data(), tempStride, last - first, first, y1 - y0, horizontal, out,
                       outStride);
    return;
  }
  // Horizontal pass first, only over the source rows the vertical pass reads.
  const auto [first, last] = span(vertical);
  std::vector<uint8_t> temp(static_cast<size_t>(last - first) * windowBytes);
  resampleHorizontal(in.row(first), inStride, in.width, 0, last - first, horizontal,
                     temp.data(), windowBytes);
  resampleVertical(temp.data(), windowBytes, first, windowBytes, vertical, out, outStride);
}

}  // namespace detail

Filter parseFilter(const std::string& name) {
  if (name == "nearest") return Filter::Nearest;
  if (name == "box") return Filter::Box;
  if (name == "bilinear") return Filter::Bilinear;
  if (name == "hamming") return Filter::Hamming;
  if (name == "bicubic") return Filter::Bicubic;
  if (name == "lanczos") return Filter::Lanczos;
  throw Error(code::kModelMetadata,
              "unknown interpolation \"" + name +
                  "\": expected one of nearest, box, bilinear, hamming, bicubic, lanczos");
}

RgbImage resize(const RgbImage& in, int width, int height, Filter filter) {
  if (width < 1 || height < 1) {
    throw Error(code::kModelMetadata, "resize target " + std::to_string(width) + "x" +
                                          std::to_string(height) + " must be at least 1x1");
  }
  if (in.width < 1 || in.height < 1 ||
      in.pixels.size() != static_cast<size_t>(in.width) * in.height * 3) {
    throw Error(code::kDecode, "cannot resize an empty or malformed image");
  }
  // Pillow Image.resize: same size → a copy.
  if (width == in.width && height == in.height) return in;
  RgbImage out(width, height);
  detail::resizeWindow(in, width, height, filter, 0, 0, width, height, out.pixels.data(),
                       static_cast<size_t>(width) * 3);
  return out;
}

}  // namespace chori::image
