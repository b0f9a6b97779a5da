// The size guard every decoder applies to its header before it allocates a pixel.
#include "image/limits.h"

#include <string>

#include "chori/error.h"

namespace chori::image {

namespace detail {

void checkImageSize(uint64_t width, uint64_t height, const DecodeOptions& options,
                    const char* format) {
  if (width == 0 || height == 0) {
    throw Error(code::kDecode, std::string(format) + " header declares an empty image (" +
                                   std::to_string(width) + "x" + std::to_string(height) + ")");
  }
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width > kMaxDimension || height > kMaxDimension) {
    throw Error(code::kImageTooLarge, std::string(format) + " image is " + size +
                                          ": a side longer than " +
                                          std::to_string(kMaxDimension) + " pixels is not supported");
  }
  // PIL Image._decompression_bomb_check: raises when pixels > 2 * MAX_IMAGE_PIXELS.
  const uint64_t pixels = width * height;  // both <= 2^24: no overflow
  if (pixels > options.maxPixels) {
    throw Error(code::kImageTooLarge,
                std::string(format) + " image is " + size + " (" + std::to_string(pixels) +
                    " pixels), more than the limit of " + std::to_string(options.maxPixels) +
                    " pixels (possible decompression bomb)");
  }
}

}  // namespace detail

}  // namespace chori::image
