// The pixel buffer that flows from the decoders to the preprocessing steps.
#pragma once

#include <cstdint>
#include <vector>

namespace chori::image {

// 8-bit interleaved RGB, row-major, no padding: what PIL holds after convert("RGB").
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3) {}
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

}  // namespace chori::image
