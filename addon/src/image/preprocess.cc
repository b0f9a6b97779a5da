// RgbImage → float32 CHW, equal bit for bit to torchvision's
// Compose([Resize(size, interpolation, max_size, antialias=True), CenterCrop(crop),
//          ToTensor(), Normalize(mean, std)]) on the PIL image.
// The resize is evaluated only on the pixels the centre crop keeps, and the crop,
// ToTensor and Normalize are fused into one table lookup per pixel.
#include "image/preprocess.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "chori/error.h"
#include "image/limits.h"
#include "image/resample_internal.h"
#include "image/strict_fp.h"


namespace chori::image {

namespace {

[[noreturn]] void specError(const std::string& message) {
  throw Error(code::kModelMetadata, "invalid input spec: " + message);
}

void validate(const InputSpec& spec) {
  if (spec.fastai) {
    if (!spec.resize.empty() || spec.maxSize || spec.crop) specError("fastai_resize replaces resize, max_size and crop");
    if (spec.fastai->height < 1 || spec.fastai->width < 1) specError("fastai_resize.size values must be positive");
  }
  if (spec.resize.size() > 2) specError("resize must have 1 or 2 values");
  for (int v : spec.resize) {
    if (v < 1) specError("resize values must be positive, got " + std::to_string(v));
  }
  if (spec.maxSize) {
    // torchvision resize: max_size only with a single size, and strictly greater than it.
    if (spec.resize.size() != 1) specError("max_size is only allowed with resize [s]");
    if (*spec.maxSize <= spec.resize[0]) {
      specError("max_size = " + std::to_string(*spec.maxSize) +
                " must be strictly greater than the requested size for the smaller edge " +
                std::to_string(spec.resize[0]));
    }
  }
  if (spec.crop && ((*spec.crop)[0] < 1 || (*spec.crop)[1] < 1)) {
    specError("crop values must be positive");
  }
  for (float s : spec.std) {
    // torchvision normalize: "std evaluated to zero after conversion to float32".
    if (s == 0.0f) specError("std must not contain zeros");
  }
}

// torchvision _compute_resized_output_size → {height, width}.
std::array<int, 2> resizedSize(const InputSpec& spec, int width, int height) {
  if (spec.resize.empty()) return {height, width};
  if (spec.resize.size() == 2) return {spec.resize[0], spec.resize[1]};  // [h, w]: squash

  const bool portrait = width <= height;
  const int64_t shortSide = portrait ? width : height;
  const int64_t longSide = portrait ? height : width;
  const int64_t requested = spec.resize[0];
  // Exact in double only below 2^53 (Python divides the exact integers).
  if (requested * longSide >= (int64_t{1} << 53)) specError("resize is too large");
  int64_t newShort = requested;
  // torchvision: new_long = int(requested_new_short * long / short).
  int64_t newLong = static_cast<int64_t>(static_cast<double>(requested * longSide) /
                                         static_cast<double>(shortSide));
  if (spec.maxSize && newLong > *spec.maxSize) {
    // torchvision: new_short, new_long = int(max_size * new_short / new_long), max_size.
    newShort = static_cast<int64_t>(static_cast<double>(*spec.maxSize * newShort) /
                                    static_cast<double>(newLong));
    newLong = *spec.maxSize;
  }
  const int64_t newWidth = portrait ? newShort : newLong;
  const int64_t newHeight = portrait ? newLong : newShort;
  if (newWidth < 1 || newHeight < 1) {
    // PIL resize: "height and width must be > 0".
    throw Error(code::kUnsupportedFormat,
                "a " + std::to_string(width) + "x" + std::to_string(height) +
                    " image resizes to " + std::to_string(newWidth) + "x" +
                    std::to_string(newHeight) + " under this resize/max_size: too elongated");
  }
  if (newWidth > static_cast<int64_t>(detail::kMaxDimension) ||
      newHeight > static_cast<int64_t>(detail::kMaxDimension)) {
    throw Error(code::kImageTooLarge, "a " + std::to_string(width) + "x" +
                                          std::to_string(height) + " image resizes to " +
                                          std::to_string(newWidth) + "x" +
                                          std::to_string(newHeight) + ": too large");
  }
  return {static_cast<int>(newHeight), static_cast<int>(newWidth)};
}

// One axis of CenterCrop on a side of `size` pixels: which source range lands where.
struct Span {
  int out = 0;   // output length
  int src = 0;   // first source pixel kept
  int dst = 0;   // where it lands in the output
  int count = 0; // pixels copied
};

// Python's round() on k / 2: halves go to the even neighbour.
int halfRoundedEven(int k) {
  const int q = k / 2;
  if (k % 2 == 0) return q;
  return (q % 2 == 0) ? q : q + 1;
}

Span cropSpan(int size, int crop) {
  Span s;
  s.out = crop;
  if (crop > size) {
    // torchvision center_crop: pad with 0, (crop - size) // 2 before, the rest after.
    s.dst = (crop - size) / 2;
    s.count = size;
  } else {
    // torchvision center_crop: int(round((size - crop) / 2.0)).
    s.src = halfRoundedEven(size - crop);
    s.count = crop;
  }
  return s;
}

struct Plan {
  int resizedWidth = 0;
  int resizedHeight = 0;
  bool resize = false;
  Span x, y;
};

Plan makePlan(const InputSpec& spec, int width, int height) {
  validate(spec);
  if (width < 1 || height < 1) throw Error(code::kDecode, "cannot preprocess an empty image");
  Plan p;
  const auto [h, w] = resizedSize(spec, width, height);
  p.resizedWidth = w;
  p.resizedHeight = h;
  // torchvision resize: "if [image_height, image_width] == output_size: return img".
  p.resize = (w != width || h != height);
  if (spec.crop) {
    p.y = cropSpan(h, (*spec.crop)[0]);
    p.x = cropSpan(w, (*spec.crop)[1]);
  } else {
    p.y = Span{h, 0, 0, h};
    p.x = Span{w, 0, 0, w};
  }
  return p;
}

// After fastai's crop or padding, the rest of its Resize is one PIL resize to exactly h × w:
// torchvision's squashing Resize([h, w]) does that very call.
InputSpec squashTo(const InputSpec& spec) {
  InputSpec squash = spec;
  squash.fastai.reset();
  squash.resize = {spec.fastai->height, spec.fastai->width};
  return squash;
}

}  // namespace

std::array<int, 2> outputSize(const InputSpec& spec, int width, int height) {
  if (spec.fastai) {
    validate(spec);
    return {spec.fastai->height, spec.fastai->width};
  }
  const Plan p = makePlan(spec, width, height);
  return {p.y.out, p.x.out};
}

void preprocess(const RgbImage& image, const InputSpec& spec, float* out) {
  if (spec.fastai) {
    validate(spec);
    const std::optional<RgbImage> staged = fastaiCropPad(image, *spec.fastai);
    preprocess(staged ? *staged : image, squashTo(spec), out);
    return;
  }
  const Plan p = makePlan(spec, image.width, image.height);
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    throw Error(code::kDecode, "RgbImage buffer does not match its width and height");
  }

  // ToTensor then Normalize, per channel and byte value, in float32 and in torch's order:
  // x / 255, then - mean, then / std.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float t = static_cast<float>(v) / 255.0f;
      t = t - spec.mean[c];
      t = t / spec.std[c];
      lut[c][v] = t;
    }
  }

  const size_t outWidth = static_cast<size_t>(p.x.out);
  const size_t plane = static_cast<size_t>(p.y.out) * outWidth;
  float* planes[3] = {out, out + plane, out + 2 * plane};
  if (p.x.count < p.x.out || p.y.count < p.y.out) {
    // CenterCrop's padding is pixel value 0, normalised like any other pixel.
    for (int c = 0; c < 3; ++c) {
      const float fill = lut[c][0];
      for (size_t i = 0; i < plane; ++i) planes[c][i] = fill;
    }
  }

  // Source rows of the kept window: the resized pixels, or the image itself.
  std::vector<uint8_t> window;
  const uint8_t* rows;
  size_t stride;
  if (p.resize) {
    stride = static_cast<size_t>(p.x.count) * 3;
    window.resize(stride * p.y.count);
    detail::resizeWindow(image, p.resizedWidth, p.resizedHeight, spec.interpolation, p.x.src,
                         p.y.src, p.x.src + p.x.count, p.y.src + p.y.count, window.data(), stride);
    rows = window.data();
  } else {
    stride = static_cast<size_t>(image.width) * 3;
    rows = image.pixels.data() + static_cast<size_t>(p.y.src) * stride +
           static_cast<size_t>(p.x.src) * 3;
  }

  const float* lr = lut[0];
  const float* lg = lut[1];
  const float* lb = lut[2];
  for (int y = 0; y < p.y.count; ++y) {
    const uint8_t* src = rows + static_cast<size_t>(y) * stride;
    const size_t offset = static_cast<size_t>(p.y.dst + y) * outWidth + p.x.dst;
    float* r = planes[0] + offset;
    float* g = planes[1] + offset;
    float* b = planes[2] + offset;
    for (int x = 0; x < p.x.count; ++x, src += 3) {
      r[x] = lr[src[0]];
      g[x] = lg[src[1]];
      b[x] = lb[src[2]];
    }
  }
}

}  // namespace chori::image
