// The format table. Signatures are PIL's _accept tests; where we require more than PIL (BMP's
// DIB header size), the row says why.
#include "image/formats.h"

#include <cstring>

#include "image/avif.h"
#include "image/bmp.h"
#include "image/gif.h"
#include "image/ico.h"
#include "image/jpeg.h"
#include "image/png.h"
#include "image/ppm.h"
#include "image/tiff.h"
#include "image/webp.h"

namespace chori::image {

namespace {

bool startsWith(const uint8_t* data, size_t size, const char* magic, size_t n, size_t at = 0) {
  return size >= at + n && std::memcmp(data + at, magic, n) == 0;
}

// PIL BmpImagePlugin._accept is "BM"; we also require a DIB header size PIL reads, so text
// that happens to start with "BM" is called text (PIL rejects both).
bool isBmp(const uint8_t* d, size_t n) {
  if (!startsWith(d, n, "BM", 2) || n < 18) return false;
  const uint32_t dib = d[14] | (d[15] << 8) | (d[16] << 16) | (uint32_t(d[17]) << 24);
  return dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124;
}
bool isGif(const uint8_t* d, size_t n) { return startsWith(d, n, "GIF87a", 6) || startsWith(d, n, "GIF89a", 6); }
bool isJpeg(const uint8_t* d, size_t n) { return startsWith(d, n, "\xff\xd8\xff", 3); }
// PIL PpmImagePlugin._accept: "P" and one of 0123456fy.
bool isPpm(const uint8_t* d, size_t n) { return n >= 2 && d[0] == 'P' && std::strchr("0123456fy", d[1]) && d[1]; }
bool isPng(const uint8_t* d, size_t n) { return startsWith(d, n, "\x89PNG\r\n\x1a\n", 8); }
// PIL AvifImagePlugin._accept: an ftyp box whose major brand is avif, avis, mif1 or msf1 (the
// last two are any HEIF; libavif refuses those without AV1 items, as PIL does).
bool isAvif(const uint8_t* d, size_t n) {
  return startsWith(d, n, "ftyp", 4, 4) && (startsWith(d, n, "avif", 4, 8) || startsWith(d, n, "avis", 4, 8) ||
                                            startsWith(d, n, "mif1", 4, 8) || startsWith(d, n, "msf1", 4, 8));
}
bool isCur(const uint8_t* d, size_t n) { return startsWith(d, n, "\0\0\2\0", 4); }
bool isIco(const uint8_t* d, size_t n) { return startsWith(d, n, "\0\0\1\0", 4); }
bool isJpeg2000(const uint8_t* d, size_t n) {
  return startsWith(d, n, "\0\0\0\x0cjP  \r\n\x87\n", 12) || startsWith(d, n, "\xff\x4f\xff\x51", 4);
}
bool isPsd(const uint8_t* d, size_t n) { return startsWith(d, n, "8BPS", 4); }
bool isQoi(const uint8_t* d, size_t n) { return startsWith(d, n, "qoif", 4); }
bool isTiff(const uint8_t* d, size_t n) {
  // PIL TiffImagePlugin PREFIXES: classic and BigTIFF, both byte orders, and the classic
  // header with its version's bytes swapped ("assume" the byte order of the first two).
  return startsWith(d, n, "II*\0", 4) || startsWith(d, n, "MM\0*", 4) || startsWith(d, n, "II+\0", 4) ||
         startsWith(d, n, "MM\0+", 4) || startsWith(d, n, "MM*\0", 4) || startsWith(d, n, "II\0*", 4);
}
// PIL WebPImagePlugin._accept: RIFF, WEBP and a VP8 / VP8L / VP8X first chunk.
bool isWebp(const uint8_t* d, size_t n) {
  return startsWith(d, n, "RIFF", 4) && startsWith(d, n, "WEBP", 4, 8) &&
         (startsWith(d, n, "VP8 ", 4, 12) || startsWith(d, n, "VP8L", 4, 12) || startsWith(d, n, "VP8X", 4, 12));
}
// Not opened by Pillow 13 without a plugin, but recognised so the refusal names them.
bool isHeif(const uint8_t* d, size_t n) {
  return startsWith(d, n, "ftyp", 4, 4) && (startsWith(d, n, "heic", 4, 8) || startsWith(d, n, "heix", 4, 8));
}
bool isJpegXl(const uint8_t* d, size_t n) {
  return startsWith(d, n, "\xff\x0a", 2) || startsWith(d, n, "\0\0\0\x0cJXL \r\n\x87\n", 12);
}

constexpr const char* kPilToo = "PIL does not open it either without a plugin";

// PIL's order: Image.preinit (BMP, GIF, JPEG, PPM, PNG), then PIL._plugins alphabetically.
constexpr FormatEntry kFormats[] = {
    {"BMP", isBmp, decodeBmp, nullptr},
    {"GIF", isGif, decodeGif, nullptr},
    {"JPEG", isJpeg, decodeJpeg, nullptr},
    {"PPM", isPpm, decodePpm, nullptr},
    {"PNG", isPng, decodePng, nullptr},
    {"AVIF", isAvif, decodeAvif, nullptr},
    {"CUR", isCur, nullptr, nullptr},
    {"ICO", isIco, decodeIco, nullptr},
    {"JPEG 2000", isJpeg2000, nullptr, nullptr},
    {"PSD", isPsd, nullptr, nullptr},
    {"QOI", isQoi, nullptr, nullptr},
    {"TIFF", isTiff, decodeTiff, nullptr},
    {"WebP", isWebp, decodeWebp, nullptr},
    {"HEIF", isHeif, nullptr, kPilToo},
    {"JPEG XL", isJpegXl, nullptr, kPilToo},
};

}  // namespace

std::span<const FormatEntry> formats() { return kFormats; }

const FormatEntry* sniffFormat(const uint8_t* data, size_t size) {
  for (const FormatEntry& f : kFormats) {
    if (f.sniff(data, size)) return &f;
  }
  return nullptr;
}

std::string decodedFormatNames() {
  std::string out;
  for (const FormatEntry& f : kFormats) {
    if (f.decode == nullptr) continue;
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

}  // namespace chori::image
