// Pillow's Image.resize for 8-bit RGB, reproduced exactly (same coefficients, same
// fixed-point rounding), so the pixels equal what torchvision's Resize gives on a PIL image.
#pragma once

#include <string>

#include "image/image.h"

namespace chori::image {

enum class Filter { Nearest, Box, Bilinear, Hamming, Bicubic, Lanczos };

// Parses the metadata name ("bilinear", …); throws chori::Error(CHORI_MODEL_METADATA) otherwise.
Filter parseFilter(const std::string& name);

RgbImage resize(const RgbImage& in, int width, int height, Filter filter);

}  // namespace chori::image
