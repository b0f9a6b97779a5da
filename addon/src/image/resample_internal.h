// Private to the image pipeline: Pillow's resize evaluated on a window of the output,
// so a centre crop costs only the pixels it keeps.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/resample.h"

namespace chori::image::detail {

// Writes the pixels [x0, x1) × [y0, y1) of resize(in, width, height, filter) to `out`
// (RGB rows of `outStride` bytes). Each pixel equals the one Pillow computes for the full
// output: the same coefficients, the same integer sums. Requires 0 <= x0 < x1 <= width,
// 0 <= y0 < y1 <= height and a size that differs from the input's.
void resizeWindow(const RgbImage& in, int width, int height, Filter filter, int x0, int y0,
                  int x1, int y1, uint8_t* out, size_t outStride);

}  // namespace chori::image::detail
