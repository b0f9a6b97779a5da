// CMYK → RGB as Pillow's convert("RGB") does it (Convert.c cmyk2rgb), shared by the JPEG and
// PPM decoders.
#pragma once

#include <cstdint>

namespace chori::image {

// One channel: nk = 255 - k; CLIP8(nk - MULDIV255(ink, nk)), where
// MULDIV255(a, b) = (t = a * b + 128, ((t >> 8) + t) >> 8).
inline uint8_t cmykChannel(int ink, int notBlack) {
  const int t = ink * notBlack + 128;
  const int v = notBlack - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

inline void cmykToRgb(uint8_t c, uint8_t m, uint8_t y, uint8_t k, uint8_t* rgb) {
  rgb[0] = cmykChannel(c, 255 - k);
  rgb[1] = cmykChannel(m, 255 - k);
  rgb[2] = cmykChannel(y, 255 - k);
}

}  // namespace chori::image
