// What the decoders and the decode() dispatcher share: the caller's options and the size
// guard every format applies to its header before it allocates a single pixel. A header of its
// own, so that the per-format decoders need not include the dispatcher that includes them.
#pragma once

#include <cstdint>

namespace chori::image {

// PIL raises DecompressionBombError above 2 × Image.MAX_IMAGE_PIXELS (89,478,485) and only
// warns between 1× and 2×; we reject exactly where PIL rejects.
inline constexpr uint64_t kDefaultMaxPixels = 2ull * 89478485ull;

struct DecodeOptions {
  uint64_t maxPixels = kDefaultMaxPixels;
  // Turn the image upright by its EXIF orientation tag (JPEG APP1, PNG eXIf, WebP EXIF), as
  // ImageOps.exif_transpose does; off by default because Image.open ignores the tag.
  bool applyExifOrientation = false;
};

namespace detail {

// Largest width or height we accept from any header: keeps every index and offset in
// range of an int and a size_t, whatever maxPixels the caller allows.
inline constexpr uint64_t kMaxDimension = 1u << 24;

// Throws CHORI_DECODE for a zero dimension and CHORI_IMAGE_TOO_LARGE when the header
// announces more pixels than options.maxPixels (PIL: DecompressionBombError) or a side
// longer than kMaxDimension. `format` names the format in the message ("JPEG", "PNG").
void checkImageSize(uint64_t width, uint64_t height, const DecodeOptions& options,
                    const char* format);

}  // namespace detail
}  // namespace chori::image
