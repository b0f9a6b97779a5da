#include "image/fastai_resize.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "chori/error.h"
#include "image/limits.h"

namespace chori::image {

FastaiResize::Method parseResizeMethod(const std::string& name) {
  if (name == "crop") return FastaiResize::Method::Crop;
  if (name == "squish") return FastaiResize::Method::Squish;
  if (name == "pad") return FastaiResize::Method::Pad;
  throw Error(code::kModelMetadata, "invalid input spec: fastai_resize.method must be crop, squish or pad, not '" + name + "'");
}

FastaiResize::PadMode parsePadMode(const std::string& name) {
  if (name == "zeros") return FastaiResize::PadMode::Zeros;
  if (name == "border") return FastaiResize::PadMode::Border;
  if (name == "reflection") return FastaiResize::PadMode::Reflection;
  throw Error(code::kModelMetadata,
              "invalid input spec: fastai_resize.pad_mode must be zeros, border or reflection, not '" + name + "'");
}

namespace {

// Python's int() of a double: truncation toward zero, as the static_cast does.
int64_t pyInt(double v) { return static_cast<int64_t>(v); }

// Where output index i (counted from the first padded pixel, `before` of them) reads from in a
// row or column of n source pixels; -1 is a zero. numpy's pad: "edge" clamps; "reflect"
// mirrors about the end pixels without repeating them, again and again for pads longer than
// the row (a triangle wave of period 2(n - 1)), and falls back to "edge" on a single pixel.
int64_t sourceIndex(int64_t i, int64_t before, int64_t n, FastaiResize::PadMode mode) {
  int64_t k = i - before;
  if (k >= 0 && k < n) return k;
  switch (mode) {
    case FastaiResize::PadMode::Zeros:
      return -1;
    case FastaiResize::PadMode::Border:
      return std::clamp<int64_t>(k, 0, n - 1);
    case FastaiResize::PadMode::Reflection: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      k %= period;
      if (k < 0) k += period;
      return k < n ? k : period - k;
    }
  }
  return -1;
}

// _do_crop_pad's box for an image of w × h: the part of it kept, and the padding around it.
struct CropPad {
  int64_t x0, y0, cropW, cropH, padLeft, padTop, outW, outH;
};

CropPad cropPad(int64_t w, int64_t h, const FastaiResize& r) {
  if (r.method == FastaiResize::Method::Squish) return {0, 0, w, h, 0, 0, w, h};  // crop_pad to the full size
  // Resize.encodes: m = w/size_w if op(w/size_w, h/size_h) else h/size_h, op = lt for crop (the
  // box fits inside the image) and gt for pad (the image fits inside the box).
  const double rw = static_cast<double>(w) / r.width, rh = static_cast<double>(h) / r.height;
  const bool byWidth = r.method == FastaiResize::Method::Crop ? rw < rh : rw > rh;
  const double m = byWidth ? rw : rh;
  // cp_sz = (int(m*size_w), int(m*size_h)); tl = int(0.5*(w - cp_w)), int(0.5*(h - cp_h)):
  // validation uses pcts (0.5, 0.5), and int() truncates a negative offset toward zero.
  const int64_t boxW = pyInt(m * r.width), boxH = pyInt(m * r.height);
  const int64_t left = pyInt(0.5 * static_cast<double>(w - boxW));
  const int64_t top = pyInt(0.5 * static_cast<double>(h - boxH));
  // _do_crop_pad: crop to tl.max(0) .. (tl + sz).min(orig_sz), then pad (-tl).max(0) before and
  // (sz - orig_sz + tl).max(0) after; both are whole-image no-ops on the other axis.
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + boxW, w);
  const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min(top + boxH, h);
  if (x1 <= x0 || y1 <= y0) {
    // PIL: resizing an empty crop raises.
    throw Error(code::kUnsupportedFormat, "a " + std::to_string(w) + "x" + std::to_string(h) +
                                              " image crops to nothing under fastai's Resize: too elongated");
  }
  const int64_t padLeft = std::max<int64_t>(-left, 0), padTop = std::max<int64_t>(-top, 0);
  const int64_t padRight = std::max<int64_t>(boxW - w + left, 0), padBottom = std::max<int64_t>(boxH - h + top, 0);
  const int64_t cropW = x1 - x0, cropH = y1 - y0;
  return {x0, y0, cropW, cropH, padLeft, padTop, cropW + padLeft + padRight, cropH + padTop + padBottom};
}

}  // namespace

std::array<int64_t, 2> fastaiStagedSize(int width, int height, const FastaiResize& resize) {
  const CropPad c = cropPad(width, height, resize);
  return {c.outH, c.outW};
}

void checkStagedSize(int width, int height, const FastaiResize& resize, uint64_t maxPixels) {
  const auto [h, w] = fastaiStagedSize(width, height, resize);
  const uint64_t pixels = static_cast<uint64_t>(h) * static_cast<uint64_t>(w);
  if (pixels > maxPixels) {
    throw Error(code::kImageTooLarge, "fastai's Resize would pad this " + std::to_string(width) + "x" +
                                          std::to_string(height) + " image to " + std::to_string(w) + "x" +
                                          std::to_string(h) + " (" + std::to_string(pixels) +
                                          " pixels) before resizing, more than the limit of " +
                                          std::to_string(maxPixels) + " pixels (maxPixels)");
  }
}

std::optional<RgbImage> fastaiCropPad(const RgbImage& image, const FastaiResize& r) {
  const int64_t w = image.width, h = image.height;
  const auto [x0, y0, cropW, cropH, padLeft, padTop, outW, outH] = cropPad(w, h, r);
  if (x0 == 0 && y0 == 0 && cropW == w && cropH == h && outW == w && outH == h) return std::nullopt;
  // Padding an elongated image to a square can multiply its pixels: the padded image is held
  // to the same bound as a decoded one (PIL would try, and fail with a MemoryError).
  const auto maxSide = static_cast<int64_t>(detail::kMaxDimension);
  if (outW > maxSide || outH > maxSide || static_cast<uint64_t>(outW * outH) > kDefaultMaxPixels) {
    throw Error(code::kImageTooLarge, "a " + std::to_string(w) + "x" + std::to_string(h) + " image pads to " +
                                          std::to_string(outW) + "x" + std::to_string(outH) + ": too large");
  }

  std::vector<int64_t> columns(static_cast<size_t>(outW));
  for (int64_t x = 0; x < outW; ++x) columns[x] = sourceIndex(x, padLeft, cropW, r.padMode);
  RgbImage out(static_cast<int>(outW), static_cast<int>(outH));
  for (int64_t y = 0; y < outH; ++y) {
    uint8_t* dst = out.row(static_cast<int>(y));
    const int64_t sy = sourceIndex(y, padTop, cropH, r.padMode);
    if (sy < 0) continue;  // a zero row: RgbImage starts zeroed
    const uint8_t* src = image.row(static_cast<int>(y0 + sy)) + x0 * 3;
    for (int64_t x = 0; x < outW; ++x) {
      const int64_t sx = columns[x];
      if (sx >= 0) std::copy_n(src + sx * 3, 3, dst + x * 3);
    }
  }
  return out;
}

}  // namespace chori::image
