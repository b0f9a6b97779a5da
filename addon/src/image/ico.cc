// ICO → RgbImage: IcoFile's directory and entry choice, then the PNG or BMP decoder on the
// entry's bytes (a DIB gets the 14-byte file header it lacks, and half its height, as
// IcoFile.frame gives PIL's DibImageFile).
#include "image/ico.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "chori/error.h"
#include "image/bmp.h"
#include "image/png.h"

namespace chori::image {

namespace {

uint32_t u32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

[[noreturn]] void truncated(const std::string& where) {
  throw Error(code::kTruncated, "ICO data is truncated: the file ends " + where);
}

struct Entry {
  uint32_t width, height, bpp, size, offset;
  uint64_t square;
  int64_t colorDepth;
};

// IcoFile.__init__: sorted by colour depth, then (stably) by area, largest first.
Entry chooseEntry(const uint8_t* data, size_t size) {
  const unsigned count = u16(data + 4);
  if (count == 0) throw Error(code::kDecode, "ICO data is corrupt: the directory has no entries");
  if (size < 6 + 16 * size_t(count)) truncated("inside the directory");
  std::vector<Entry> entries;
  for (unsigned i = 0; i < count; ++i) {
    const uint8_t* s = data + 6 + 16 * i;
    Entry e;
    e.width = s[0] ? s[0] : 256;
    e.height = s[1] ? s[1] : 256;
    e.bpp = u16(s + 6);
    e.size = u32(s + 8);
    e.offset = u32(s + 12);
    e.square = uint64_t(e.width) * e.height;
    // color_depth = bpp or (nb_color != 0 and ceil(log(nb_color, 2))) or 256
    const unsigned colors = s[2];
    const int64_t fromColors = colors ? int64_t(std::ceil(std::log(double(colors)) / std::log(2.0))) : 0;
    e.colorDepth = e.bpp ? e.bpp : (fromColors ? fromColors : 256);
    entries.push_back(e);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.colorDepth < b.colorDepth; });
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.square > b.square; });
  return entries.front();
}

RgbImage decodeDibEntry(const uint8_t* data, size_t size, const Entry& entry, const DecodeOptions& options) {
  const uint8_t* dib = data + entry.offset;
  const size_t available = size - entry.offset;
  if (available < 16) truncated("inside the bitmap header");
  const uint32_t headerSize = u32(dib);
  if (headerSize < 12 || available < headerSize) truncated("inside the bitmap header");
  // The size PIL checks for a bomb is the DIB's own, before IcoFile.frame halves its height.
  const bool core = headerSize == 12;
  const uint64_t width = core ? u16(dib + 4) : u32(dib + 4);
  const bool topDown = !core && dib[11] == 0xFF;  // BmpImagePlugin's y_flip rule
  const uint64_t height = core ? u16(dib + 8) : (topDown ? (uint64_t(1) << 32) - u32(dib + 8) : u32(dib + 8));
  const unsigned bits = core ? u16(dib + 10) : u16(dib + 14);
  const uint32_t compression = core ? 0 : u32(dib + 16);
  uint32_t colors = core ? 0 : u32(dib + 32);
  detail::checkImageSize(width, height, options, "ICO");
  const uint64_t half = height / 2;

  // Where PIL's DibImageFile starts the pixels: after the header, the masks of a 40-byte
  // BITFIELDS header and the colour table.
  if (colors == 0) colors = bits < 32 ? 1u << bits : 0;
  size_t pixelOffset = headerSize;
  if (compression == 3 && headerSize == 40) pixelOffset += 12;
  if (bits <= 8) pixelOffset += size_t(core ? 3 : 4) * colors;

  // IcoFile.frame reads the transparency before the pixels and fails where it is short: the
  // alpha bytes of a 32-bit entry, else the 1-bit AND mask at the entry's end.
  if (entry.bpp == 32) {
    if (available < pixelOffset || available - pixelOffset < width * half * 4) truncated("inside the alpha channel");
  } else {
    const uint64_t rowBits = (width + 31) / 32 * 32;
    const uint64_t maskBytes = rowBits * half / 8;
    const int64_t maskOffset = int64_t(entry.offset) + int64_t(entry.size) - int64_t(maskBytes);
    if (maskOffset < 0 || uint64_t(maskOffset) + maskBytes > size) truncated("inside the AND mask");
  }

  // A BMP file: a file header pointing at the pixels, then the DIB with half its height.
  std::vector<uint8_t> bmp(14 + available);
  bmp[0] = 'B';
  bmp[1] = 'M';
  put32(bmp.data() + 10, static_cast<uint32_t>(14 + std::min<size_t>(pixelOffset, UINT32_MAX - 14)));
  std::memcpy(bmp.data() + 14, dib, available);
  uint8_t* h = bmp.data() + 14;
  if (core) {
    h[8] = static_cast<uint8_t>(half);
    h[9] = static_cast<uint8_t>(half >> 8);
  } else {
    put32(h + 8, topDown && half ? static_cast<uint32_t>((uint64_t(1) << 32) - half) : static_cast<uint32_t>(half));
  }
  return decodeBmp(bmp.data(), bmp.size(), options);
}

}  // namespace

RgbImage decodeIco(const uint8_t* data, size_t size, const DecodeOptions& options) {
  if (size < 6) truncated("inside the header");
  const Entry entry = chooseEntry(data, size);
  if (entry.offset >= size) truncated("before the image the directory points at");
  DecodeOptions inner = options;
  inner.applyExifOrientation = false;  // IcoImageFile carries no EXIF of its own
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size - entry.offset >= 8 && std::memcmp(data + entry.offset, kPng, 8) == 0) {
    return decodePng(data + entry.offset, size - entry.offset, inner);
  }
  return decodeDibEntry(data, size, entry, inner);
}

}  // namespace chori::image
