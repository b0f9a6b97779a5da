// Bytes → RgbImage: sniff the format from its magic bytes (as PIL's plugins do in their
// _accept), dispatch to the decoder, and name what we found when we cannot decode it.
#include "image/decode.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "chori/error.h"
#include "image/bmp.h"
#include "image/gif.h"
#include "image/jpeg.h"
#include "image/png.h"
#include "image/webp.h"

namespace chori::image {

namespace {

enum class Format { Jpeg, Png, Gif, Webp, Bmp, Unknown };

bool startsWith(const uint8_t* data, size_t size, const void* magic, size_t n, size_t at = 0) {
  return size >= at + n && std::memcmp(data + at, magic, n) == 0;
}

// Formats PIL opens but we do not decode (yet): recognised only to say so clearly.
const char* otherFormatName(const uint8_t* d, size_t n) {
  if (startsWith(d, n, "II*\0", 4) || startsWith(d, n, "MM\0*", 4)) return "TIFF";
  if (startsWith(d, n, "ftyp", 4, 4)) {
    if (startsWith(d, n, "avif", 4, 8) || startsWith(d, n, "avis", 4, 8)) return "AVIF";
    if (startsWith(d, n, "heic", 4, 8) || startsWith(d, n, "heix", 4, 8) ||
        startsWith(d, n, "mif1", 4, 8) || startsWith(d, n, "msf1", 4, 8)) {
      return "HEIF";
    }
  }
  if (startsWith(d, n, "\0\0\0\x0cjP  \r\n\x87\n", 12) || startsWith(d, n, "\xff\x4f\xff\x51", 4)) {
    return "JPEG 2000";
  }
  if (startsWith(d, n, "\xff\x0a", 2) || startsWith(d, n, "\0\0\0\x0cJXL \r\n\x87\n", 12)) {
    return "JPEG XL";
  }
  if (startsWith(d, n, "\0\0\1\0", 4)) return "ICO";
  if (startsWith(d, n, "8BPS", 4)) return "PSD";
  if (startsWith(d, n, "qoif", 4)) return "QOI";
  return nullptr;
}

Format sniff(const uint8_t* data, size_t size) {
  // PIL JpegImagePlugin._accept: prefix[:3] == b"\xFF\xD8\xFF".
  if (startsWith(data, size, "\xff\xd8\xff", 3)) return Format::Jpeg;
  // PIL PngImagePlugin._accept: prefix[:8] == _MAGIC.
  if (startsWith(data, size, "\x89PNG\r\n\x1a\n", 8)) return Format::Png;
  // PIL GifImagePlugin._accept: prefix[:6] in (b"GIF87a", b"GIF89a").
  if (startsWith(data, size, "GIF87a", 6) || startsWith(data, size, "GIF89a", 6)) return Format::Gif;
  // PIL WebPImagePlugin._accept: RIFF, WEBP and a VP8 / VP8L / VP8X first chunk.
  if (startsWith(data, size, "RIFF", 4) && startsWith(data, size, "WEBP", 4, 8) &&
      (startsWith(data, size, "VP8 ", 4, 12) || startsWith(data, size, "VP8L", 4, 12) ||
       startsWith(data, size, "VP8X", 4, 12))) {
    return Format::Webp;
  }
  // PIL BmpImagePlugin._accept is "BM"; we also require a DIB header size PIL reads, so text
  // that happens to start with "BM" is called text (PIL rejects both).
  if (startsWith(data, size, "BM", 2) && size >= 18) {
    const uint32_t dib = data[14] | (data[15] << 8) | (data[16] << 16) | (uint32_t(data[17]) << 24);
    if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124) {
      return Format::Bmp;
    }
  }
  return Format::Unknown;
}

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

[[noreturn]] void throwUnsupported(const uint8_t* data, size_t size) {
  if (const char* name = otherFormatName(data, size)) {
    throw Error(code::kUnsupportedFormat,
                std::string(name) + " images are not supported (supported: JPEG, PNG, GIF, WebP, BMP)");
  }
  if (looksLikeText(data, size)) {
    throw Error(code::kUnsupportedFormat,
                "unrecognised image format: the data looks like text, not an image");
  }
  throw Error(code::kUnsupportedFormat, "unrecognised image format: the data starts with bytes " +
                                            hexPrefix(data, size) +
                                            ", which is no supported image signature (JPEG, PNG, GIF, WebP, BMP)");
}

}  // namespace

RgbImage decode(const uint8_t* data, size_t size, const DecodeOptions& options) {
  if (data == nullptr || size == 0) {
    throw Error(code::kEmptyInput, "image data is empty (0 bytes)");
  }
  try {
    switch (sniff(data, size)) {
      case Format::Jpeg:
        return decodeJpeg(data, size, options);
      case Format::Png:
        return decodePng(data, size, options);
      case Format::Gif:
        return decodeGif(data, size, options);
      case Format::Webp:
        return decodeWebp(data, size, options);
      case Format::Bmp:
        return decodeBmp(data, size, options);
      case Format::Unknown:
        break;
    }
  } catch (const std::bad_alloc&) {
    throw Error(code::kImageTooLarge, "not enough memory to decode the image");
  }
  throwUnsupported(data, size);
}

}  // namespace chori::image
