// fastai's `Resize` as it runs at validation and inference time (fastai/vision/augment.py,
// `Resize.encodes` → `Image.crop_pad` → `_do_crop_pad`): the image is first cropped (method
// crop) or padded (method pad) to the target's aspect ratio, centred, and then resized to
// exactly the target size in one PIL resize; method squish only resizes. This file does the
// crop and the padding; the resize is the shared PIL resampler (preprocess.cc).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "image/image.h"

namespace chori::image {

struct FastaiResize {
  enum class Method { Crop, Squish, Pad };
  // fastai's PadMode, carried out by torchvision's pad: zeros = constant 0, border = edge,
  // reflection = numpy's reflect (the edge pixel is not repeated).
  enum class PadMode { Zeros, Border, Reflection };
  int height = 0;
  int width = 0;
  Method method = Method::Crop;
  PadMode padMode = PadMode::Reflection;
};

// Throw chori::Error(CHORI_MODEL_METADATA) for a name fastai does not have.
FastaiResize::Method parseResizeMethod(const std::string& name);
FastaiResize::PadMode parsePadMode(const std::string& name);

// {height, width} of the image `_do_crop_pad` makes from a width × height one, before the
// resize: what the crop or the padding costs (throws CHORI_UNSUPPORTED_FORMAT where it would
// crop to nothing).
std::array<int64_t, 2> fastaiStagedSize(int width, int height, const FastaiResize& resize);

// The per-request pixel budget for that staged image: throws CHORI_IMAGE_TOO_LARGE when it has
// more than `maxPixels` pixels (the caller's decode limit). fastai's pad makes a 13621 x 9729
// image from a 13621 x 1 GIF of 207 bytes: the decode limit alone does not bound the work.
void checkStagedSize(int width, int height, const FastaiResize& resize, uint64_t maxPixels);

// The image `_do_crop_pad` hands to PIL's resize; nullopt when that is `image` itself
// (squish, or a crop box that is the whole image with nothing to pad).
std::optional<RgbImage> fastaiCropPad(const RgbImage& image, const FastaiResize& resize);

}  // namespace chori::image
