// BMP → RgbImage: our own reader, mirroring PIL's BmpImagePlugin (_bitmap: header types,
// palettes and the grey-ramp rule, BITFIELDS layouts), its raw decoder (padded rows, the last
// one without its padding, bottom-up unless the height is negative) and BmpRleDecoder (RLE4 and
// RLE8, escapes and quirks included).
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

// Pillow Unpack.c, ImagingUnpackBGR15 / ImagingUnpackBGR16 (raw modes "BGR;15", "BGR;16"):
// a 5 or 6 bit channel becomes v * 255 / 31 or v * 255 / 63, truncated (not bit replication:
// v = 4 is 32, not 33). Checked against Pillow 13 on all 65536 values of both layouts.
inline uint8_t widen5(unsigned v) { return static_cast<uint8_t>(v * 255 / 31); }
inline uint8_t widen6(unsigned v) { return static_cast<uint8_t>(v * 255 / 63); }

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
  const bool rle = compression == 1 || compression == 2;
  if (compression == 3) {
    if (!bitfieldsLayout(bits, masks[0], masks[1], masks[2], masks[3], &layout)) {
      corrupt("unsupported BMP bitfields layout");
    }
  } else if (compression != 0 && !rle) {
    corrupt("unsupported BMP compression (" + std::to_string(compression) + ")");
  }
  detail::checkImageSize(width, height, options, "BMP");
  if (rle && layout != Layout::Indexed) {
    // BmpRleDecoder hands its bytes to the raw decoder as "P" (or "L"): an RGB image has no
    // such raw mode, so PIL opens the file and fails in load() ("unknown raw mode").
    corrupt("run-length encoded BMP with " + std::to_string(bits) + " bits per pixel (PIL: unknown raw mode)");
  }

  // The palette (BGR or BGRX entries); PIL reads an identity grey ramp as "1"/"L" (for
  // 0/255 with <= 2 colours, else 0, 1, 2, ...): the lookup below is then the identity.
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
      // o8(val): PIL compares with the index's low byte.
      const unsigned v = colors == 2 ? (i == 0 ? 0 : 255) : static_cast<unsigned>(i & 255);
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
    pos += have;  // where PIL's file pointer is after read(padding * colors)
    // A "P" image takes at most 256 entries: load()'s putpalette raises "invalid palette size"
    // when more were read (a grey ramp is "1"/"L" and has no palette to put).
    if (!grey && entries > 256) {
      corrupt("invalid palette size: " + std::to_string(entries) + " entries (PIL takes at most 256)");
    }
    if (grey) {
      // "1" and "L": every index is its own grey (the ramp covers 0/255). "1" from the RLE
      // decoder's "L" bytes is Unpack.c's unpack1L-style "non-zero is white", as here.
      paletteEntries = 256;
      for (unsigned i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = static_cast<uint8_t>(i);
      if (colors <= 2) {
        for (unsigned i = 1; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = 255;
      }
    }
  }
  // The tile's offset is `offset or self.fp.tell()`: 0 means "right after what was read".
  const size_t start = offset != 0 ? size_t(offset) : pos;

  RgbImage image(static_cast<int>(width), static_cast<int>(height));
  // PIL's decoders fill rows in file order; row 0 of the file is the bottom unless top-down.
  auto fileRow = [&](uint64_t r) { return image.row(static_cast<int>(topDown ? r : height - 1 - r)); };
  auto lookup = [&](uint8_t* out, unsigned index) {
    if (index < paletteEntries) std::memcpy(out, palette + 3 * index, 3);
    else out[0] = out[1] = out[2] = 0;  // past the table: black, as PIL's palette
  };

  if (rle) {
    // BmpRleDecoder.decode, step for step. `n` is len(data): pixels produced in file order;
    // `x` is the decoder's own column, which absolute runs advance by their full length and
    // only end-of-line (0) and delta (x = n % width) resynchronise — so after an absolute run
    // that overflows its row, encoded runs are clamped to nothing until one of them.
    const bool rle4 = compression == 2;
    const uint64_t dest = width * height;
    uint64_t n = 0, x = 0;
    size_t p = start;  // absolute file position (the word alignment below uses it)
    auto put = [&](unsigned index) {
      if (n >= dest) return;  // PIL's data may grow past dest; the raw decoder ignores the rest
      lookup(fileRow(n / width) + 3 * (n % width), index);
      ++n;
    };
    auto avail = [&](size_t want) -> size_t { return p >= size ? 0 : (size - p < want ? size - p : want); };
    bool ranOut = false;
    while (n < dest) {
      if (avail(2) < 2) { ranOut = true; break; }  // read(1) or read(1) came back empty
      uint64_t count = data[p];
      const unsigned byte = data[p + 1];
      p += 2;
      if (count) {  // encoded mode: `count` pixels, clamped to what is left of the row
        if (x + count > width) count = x < width ? width - x : 0;
        for (uint64_t i = 0; i < count; ++i) put(rle4 ? ((i & 1) ? byte & 15 : byte >> 4) : byte);
        x += count;
      } else if (byte == 0) {  // end of line: zero-fill to the next multiple of the width
        while (n % width != 0) put(0);
        x = 0;
      } else if (byte == 1) {  // end of bitmap: stop (an incomplete image is then an error)
        break;
      } else if (byte == 2) {  // delta: `right + up * width` zero pixels, capped at the end
        if (avail(2) < 2) { ranOut = true; break; }
        const uint64_t skip = data[p] + uint64_t(data[p + 1]) * width;
        p += 2;
        const uint64_t fill = dest - n < skip ? dest - n : skip;
        for (uint64_t i = 0; i < fill; ++i) put(0);
        x = n % width;
      } else {  // absolute mode: `byte` literal pixels (capped at the end of the image)
        const uint64_t dataCount = dest - n < byte ? dest - n : byte;
        const size_t byteCount = rle4 ? (dataCount + 1) / 2 : dataCount;  // RLE4: 2 per byte
        const size_t got = avail(byteCount);
        for (size_t i = 0; i < got; ++i) {
          const unsigned b = data[p + i];
          if (!rle4) {
            put(b);
          } else {
            put(b >> 4);
            if (i * 2 + 1 < dataCount) put(b & 15);
          }
        }
        p += got;
        if (got < byteCount) { ranOut = true; break; }
        if (n == dest) break;
        x += byte;
        if (p % 2 != 0) ++p;  // align to a 16-bit word boundary of the file (may pass the end)
      }
    }
    if (n < dest) {
      // set_as_raw: "not enough image data" (a ValueError, whatever the cause).
      if (ranOut) truncated("inside the run-length encoded pixel data");
      corrupt("the run-length encoded data ends (end of bitmap) before the last pixel (PIL: not enough image data)");
    }
    return image;
  }

  // A grey palette makes PIL's raw mode "1" (<= 2 colours) or "L", whatever the depth: the
  // rows (stride from the file's depth) are unpacked 1 or 8 bits per pixel. With "L" on 1 or
  // 4-bit rows wider than the stride, RawDecode.c refuses ("codec configuration error").
  // (BmpRleDecoder, above, expands to one byte per pixel first: the lookup is then right.)
  const unsigned unpackBits = grey ? (colors <= 2 ? 1 : 8) : bits;
  // The raw decoder (RawDecode.c) unpacks a row once its (width * bits + 7) / 8 bytes are
  // there and skips the padding up to `stride` before the next row; it stops after the last
  // row, so the last row's padding may be missing, not more.
  const uint64_t stride = ((width * bits + 31) >> 3) & ~uint64_t(3);
  const uint64_t rowBytes = (width * unpackBits + 7) >> 3;
  if (rowBytes > stride) {
    // ImageFile.load: no pixel byte at all is "truncated" before the decoder is configured.
    if (start >= size) truncated("inside the pixel data");
    corrupt("grey palette rows are wider than the stride (PIL: codec configuration error)");
  }
  if (start > size || size - start < (height - 1) * stride + rowBytes) truncated("inside the pixel data");

  for (uint64_t row = 0; row < height; ++row) {
    const uint8_t* in = data + start + row * stride;
    uint8_t* out = fileRow(row);
    for (uint64_t x = 0; x < width; ++x, out += 3) {
      switch (layout) {
        case Layout::Indexed: {
          unsigned index;
          if (unpackBits == 8) index = in[x];
          else if (unpackBits == 4) index = (in[x >> 1] >> ((x & 1) ? 0 : 4)) & 15;
          else index = (in[x >> 3] >> (7 - (x & 7))) & 1;
          lookup(out, index);
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
