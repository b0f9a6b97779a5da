// Bytes → RgbImage: find the format by its signature in the format table (formats.cc, PIL's
// order), run its decoder, and name what we found when we cannot decode it.
#include "image/decode.h"

#include <cstdio>
#include <new>
#include <string>

#include "chori/error.h"
#include "image/formats.h"

namespace chori::image {

namespace {

bool looksLikeText(const uint8_t* data, size_t size) {
  const size_t n = size < 64 ? size : 64;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = data[i];
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

std::string hexPrefix(const uint8_t* data, size_t size) {
  std::string out;
  const size_t n = size < 8 ? size : 8;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, i ? " %02x" : "%02x", data[i]);
    out += buf;
  }
  return out;
}

[[noreturn]] void throwUnsupported(const FormatEntry* format, const uint8_t* data, size_t size) {
  const std::string supported = decodedFormatNames();
  if (format != nullptr) {
    std::string why = format->refusal ? std::string(": ") + format->refusal : std::string();
    throw Error(code::kUnsupportedFormat,
                std::string(format->name) + " images are not supported" + why + " (supported: " + supported + ")");
  }
  if (looksLikeText(data, size)) {
    throw Error(code::kUnsupportedFormat,
                "unrecognised image format: the data looks like text, not an image");
  }
  throw Error(code::kUnsupportedFormat, "unrecognised image format: the data starts with bytes " +
                                            hexPrefix(data, size) +
                                            ", which is no supported image signature (" + supported + ")");
}

}  // namespace

RgbImage decode(const uint8_t* data, size_t size, const DecodeOptions& options) {
  if (data == nullptr || size == 0) {
    throw Error(code::kEmptyInput, "image data is empty (0 bytes)");
  }
  const FormatEntry* format = sniffFormat(data, size);
  if (format != nullptr && format->decode != nullptr) {
    try {
      return format->decode(data, size, options);
    } catch (const std::bad_alloc&) {
      throw Error(code::kImageTooLarge, "not enough memory to decode the image");
    }
  }
  throwUnsupported(format, data, size);
}

}  // namespace chori::image
