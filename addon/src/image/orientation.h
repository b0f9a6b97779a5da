// EXIF orientation: read tag 0x0112 from an EXIF block and turn the decoded image upright,
// as PIL's ImageOps.exif_transpose does. Used only when the artifact asks for it
// (chori.json input.exif_orientation); by default PIL's Image.open ignores the tag, and so do we.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"

namespace chori::image {

// The orientation exif_transpose acts on (2..8) from an EXIF block as PIL stores it in
// info["exif"]: a TIFF header and IFD0, optionally after one or two "Exif\0\0" prefixes.
// Returns 1 (leave the image as it is) when the block is absent, malformed or holds no usable
// tag; never reads outside [data, data + size).
int exifOrientation(const uint8_t* data, size_t size);

// ImageOps.exif_transpose's mapping: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM,
// 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90; anything else leaves the image alone.
// Lossless and pixel-count preserving, so the decompression-bomb guard still holds.
void applyOrientation(RgbImage& image, int orientation);

}  // namespace chori::image
