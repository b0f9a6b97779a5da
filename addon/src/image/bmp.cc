// BMP → RgbImage: our own reader, mirroring PIL's BmpImagePlugin (_bitmap: header types,
// palettes and the grey-ramp rule, BITFIELDS layouts) and its raw decoder (whole padded rows,
// bottom-up unless the height is negative).
#include "image/bmp.h"

#include <cstring>
#include <string>
#include <vector>

#include "chori/error.h"
#include "image/limits.h"

namespace chori::image {

namespace {

uint32_t u32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

[[noreturn]] void truncated(const char* where) {
  throw Error(code::kTruncated,
              std::string("BMP data is truncated: the file ends ") + where + " (PIL: image file is truncated)");
}

[[noreturn]] void corrupt(const std::string& what) { throw Error(code::kDecode, "BMP data is corrupt: " + what); }

// How one pixel of a row becomes RGB (PIL's raw modes).
enum class Layout { Indexed, Bgr15, Bgr16, Bgr, Bgrx, Xbgr, Bgxr, Abgr, Rgba, Bgra, Bgar };

// PIL BmpImagePlugin SUPPORTED / MASK_MODES for BITFIELDS.
bool bitfieldsLayout(unsigned bits, uint32_t r, uint32_t g, uint32_t b, uint32_t a, Layout* out) {
  struct Entry { unsigned bits; uint32_t r, g, b, a; bool useAlpha; Layout layout; };
  static const Entry kTable[] = {
      {32, 0xFF0000, 0xFF00, 0xFF, 0x0, true, Layout::Bgrx},
      {32, 0xFF000000, 0xFF0000, 0xFF00, 0x0, true, Layout::Xbgr},
      {32, 0xFF000000, 0xFF00, 0xFF, 0x0, true, Layout::Bgxr},
      {32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF, true, Layout::Abgr},
      {32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000, true, Layout::Rgba},
      {32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000, true, Layout::Bgra},
      {32, 0xFF000000, 0xFF00, 0xFF, 0xFF0000, true, Layout::Bgar},
      {32, 0x0, 0x0, 0x0, 0x0, true, Layout::Bgra},
      {24, 0xFF0000, 0xFF00, 0xFF, 0, false, Layout::Bgr},
      {16, 0xF800, 0x7E0, 0x1F, 0, false, Layout::Bgr16},
      {16, 0x7C00, 0x3E0, 0x1F, 0, false, Layout::Bgr15},
  };
  for (const Entry& e : kTable) {
    if (e.bits == bits && e.r == r && e.g == g && e.b == b && (!e.useAlpha || e.a == a)) {
      *out = e.layout;
      return true;
    }
  }
  return false;
}

// Pillow Unpack.c: 5 and 6 bit channels widen as (v << 3) | (v >> 2), (v << 2) | (v >> 4).
inline uint8_t widen5(unsigned v) { return static_cast<uint8_t>((v << 3) | (v >> 2)); }
inline uint8_t widen6(unsigned v) { return static_cast<uint8_t>((v << 2) | (v >> 4)); }

}  // namespace

RgbImage decodeBmp(const uint8_t* data, size_t size, const DecodeOptions& options) {
  if (size < 18) truncated("inside the header");
  const uint32_t headerSize = u32(data + 14);
  uint32_t offset = u32(data + 10);
  if (size - 18 < size_t(headerSize) - 4) truncated("inside the header");
  const uint8_t* h = data + 18;  // header_data in PIL: the DIB header after its size field
  size_t pos = 14 + size_t(headerSize);

  uint64_t width, height;
  unsigned bits;
  uint32_t compression = 0, colors = 0;
  size_t paletteEntryBytes;
  bool topDown = false;
  uint32_t masks[4] = {0, 0, 0, 0};
  if (headerSize == 12) {  // OS/2 BITMAPCOREHEADER
    width = u16(h);
    height = u16(h + 2);
    bits = u16(h + 6);
    paletteEntryBytes = 3;
  } else if (headerSize == 40 || headerSize == 52 || headerSize == 56 || headerSize == 64 ||
             headerSize == 108 || headerSize == 124) {
    // PIL: y_flip when the height's top byte is 0xFF; then height = 2**32 - raw.
    topDown = h[7] == 0xFF;
    width = u32(h);
    height = topDown ? (uint64_t(1) << 32) - u32(h + 4) : u32(h + 4);
    bits = u16(h + 10);
    compression = u32(h + 12);
    colors = u32(h + 28);
    paletteEntryBytes = 4;
    if (compression == 3) {  // BITFIELDS
      if (headerSize - 4 >= 48) {
        for (int i = 0; i < 3; ++i) masks[i] = u32(h + 36 + 4 * i);
        if (headerSize - 4 >= 52) masks[3] = u32(h + 48);
      } else {
        if (size - pos < 12) truncated("inside the colour masks");
        for (int i = 0; i < 3; ++i) masks[i] = u32(data + pos + 4 * i);
        pos += 12;
      }
    }
  } else {
    corrupt("unsupported BMP header type (" + std::to_string(headerSize) + ")");
  }
  if (colors == 0) colors = bits < 32 ? 1u << bits : 0;
  if (offset == 14 + headerSize && bits <= 8) offset += static_cast<uint32_t>(paletteEntryBytes * colors);

  Layout layout;
  switch (bits) {
    case 1: case 4: case 8: layout = Layout::Indexed; break;
    case 16: layout = Layout::Bgr15; break;
    case 24: layout = Layout::Bgr; break;
    case 32: layout = Layout::Bgrx; break;
    default: corrupt("unsupported BMP pixel depth (" + std::to_string(bits) + ")");
  }
  if (compression == 3) {
    if (!bitfieldsLayout(bits, masks[0], masks[1], masks[2], masks[3], &layout)) {
      corrupt("unsupported BMP bitfields layout");
    }
  } else if (compression == 1 || compression == 2) {
    throw Error(code::kUnsupportedFormat, "run-length encoded BMP images are not supported yet");
  } else if (compression != 0) {
    corrupt("unsupported BMP compression (" + std::to_string(compression) + ")");
  }
  detail::checkImageSize(width, height, options, "BMP");

  // The palette (BGR or BGRX entries); PIL reads an identity grey ramp as "1"/"L", whose
  // pixels equal the lookup for every index the ramp covers.
  uint8_t palette[256 * 3] = {};
  size_t paletteEntries = 0;
  bool grey = false;
  if (layout == Layout::Indexed) {
    if (colors == 0 || colors > 65536) corrupt("unsupported BMP palette size (" + std::to_string(colors) + ")");
    const size_t want = paletteEntryBytes * colors;
    const size_t have = size - pos < want ? size - pos : want;  // PIL reads what is there
    const size_t entries = have / paletteEntryBytes;
    grey = true;
    for (size_t i = 0; i < colors; ++i) {
      const unsigned v = colors == 2 ? (i == 0 ? 0 : 255) : static_cast<unsigned>(i);
      const uint8_t* e = data + pos + i * paletteEntryBytes;
      if (i >= entries || e[0] != v || e[1] != v || e[2] != v) {
        grey = false;
        break;
      }
    }
    paletteEntries = entries < 256 ? entries : 256;
    for (size_t i = 0; i < paletteEntries; ++i) {
      const uint8_t* e = data + pos + i * paletteEntryBytes;
      palette[3 * i] = e[2];
      palette[3 * i + 1] = e[1];
      palette[3 * i + 2] = e[0];
    }
    if (grey && colors > 2 && bits != 8) {
      // PIL then unpacks the packed indices with the 8-bit "L" unpacker: not reproduced.
      throw Error(code::kUnsupportedFormat, "BMP images with an identity grey palette below 8 bits are not supported");
    }
    if (grey) {
      paletteEntries = 256;  // "1" and "L": every index is its own grey (the ramp covers 0/255)
      for (unsigned i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = static_cast<uint8_t>(i);
      if (colors <= 2) {
        for (unsigned i = 1; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = 255;
      }
    }
  }

  // The raw decoder consumes whole rows of the padded stride, from `offset`.
  const size_t stride = ((width * bits + 31) >> 3) & ~size_t(3);
  if (offset > size || (size - offset) / stride < height) truncated("inside the pixel data");

  RgbImage image(static_cast<int>(width), static_cast<int>(height));
  for (uint64_t row = 0; row < height; ++row) {
    const uint8_t* in = data + offset + row * stride;
    uint8_t* out = image.row(static_cast<int>(topDown ? row : height - 1 - row));
    for (uint64_t x = 0; x < width; ++x, out += 3) {
      switch (layout) {
        case Layout::Indexed: {
          unsigned index;
          if (bits == 8) index = in[x];
          else if (bits == 4) index = (in[x >> 1] >> ((x & 1) ? 0 : 4)) & 15;
          else index = (in[x >> 3] >> (7 - (x & 7))) & 1;
          if (index < paletteEntries) std::memcpy(out, palette + 3 * index, 3);
          else out[0] = out[1] = out[2] = 0;  // past the table: black, as PIL's palette
          break;
        }
        case Layout::Bgr15: {
          const unsigned p = u16(in + 2 * x);
          out[0] = widen5((p >> 10) & 31); out[1] = widen5((p >> 5) & 31); out[2] = widen5(p & 31);
          break;
        }
        case Layout::Bgr16: {
          const unsigned p = u16(in + 2 * x);
          out[0] = widen5((p >> 11) & 31); out[1] = widen6((p >> 5) & 63); out[2] = widen5(p & 31);
          break;
        }
        case Layout::Bgr: { const uint8_t* s = in + 3 * x; out[0] = s[2]; out[1] = s[1]; out[2] = s[0]; break; }
        case Layout::Bgrx: case Layout::Bgra: { const uint8_t* s = in + 4 * x; out[0] = s[2]; out[1] = s[1]; out[2] = s[0]; break; }
        case Layout::Xbgr: case Layout::Abgr: { const uint8_t* s = in + 4 * x; out[0] = s[3]; out[1] = s[2]; out[2] = s[1]; break; }
        case Layout::Bgxr: { const uint8_t* s = in + 4 * x; out[0] = s[3]; out[1] = s[1]; out[2] = s[0]; break; }
        case Layout::Bgar: { const uint8_t* s = in + 4 * x; out[0] = s[3]; out[1] = s[1]; out[2] = s[0]; break; }
        case Layout::Rgba: { const uint8_t* s = in + 4 * x; std::memcpy(out, s, 3); break; }
      }
    }
  }
  return image;
}

}  // namespace chori::image
