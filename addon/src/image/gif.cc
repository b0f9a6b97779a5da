// GIF → RgbImage: our own reading of the first frame, mirroring PIL's GifImagePlugin (the
// block walk in _open/_seek, load_prepare's fill) and its LZW decoder (GifDecode.c), so that
// what PIL accepts, rejects or reads past is decided by the same rules.
#include "image/gif.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "chori/error.h"
#include "image/limits.h"

namespace chori::image {

namespace {

constexpr int kTableSize = 4096;  // GifDecode.c GIFTABLE (12-bit codes)
constexpr int kMaxCodeBits = 12;

[[noreturn]] void truncated(const char* where) {
  throw Error(code::kTruncated,
              std::string("GIF data is truncated: the file ends ") + where + " (PIL: image file is truncated)");
}

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(code::kDecode, "GIF data is corrupt: " + what);
}

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos;
  bool has(size_t n) const { return n <= size - pos; }
  uint8_t byte(const char* where) {
    if (!has(1)) truncated(where);
    return data[pos++];
  }
  unsigned u16(size_t at) const { return data[at] | (data[at + 1] << 8); }
  // GifImagePlugin.data(): one sub-block (possibly cut short by the end of the file), or
  // false at a terminator or at the end of the data.
  bool subBlock(const uint8_t** block, size_t* length) {
    if (!has(1) || data[pos] == 0) {
      if (has(1)) ++pos;
      return false;
    }
    const size_t n = data[pos++];
    *block = data + pos;
    *length = has(n) ? n : size - pos;
    pos += *length;
    return true;
  }
  void skipSubBlocks() {
    const uint8_t* block;
    size_t length;
    while (subBlock(&block, &length)) {
    }
  }
};

// A palette as PIL holds it: the bytes read, or none when the table is an identity grey ramp
// (GifImagePlugin._is_palette_needed), which PIL reads as mode "L".
struct Palette {
  bool present = false;
  const uint8_t* rgb = nullptr;
  size_t entries = 0;
};

Palette readPalette(Reader* r, int bits) {
  const size_t length = size_t(3) << bits;
  if (!r->has(length)) truncated("inside a colour table");
  Palette p;
  p.rgb = r->data + r->pos;
  p.entries = length / 3;
  r->pos += length;
  for (size_t i = 0; i < p.entries; ++i) {
    if (p.rgb[3 * i] != i || p.rgb[3 * i + 1] != i || p.rgb[3 * i + 2] != i) {
      p.present = true;
      break;
    }
  }
  return p;
}

struct Frame {
  unsigned x0, y0, width, height;
  bool interlaced;
  int codeBits;
  size_t dataOffset;
  int transparency = -1;
  Palette palette;
};

// GifDecode.c, state for state: writes frame indices into `out` (the full image, P or L).
class Lzw {
 public:
  Lzw(const Frame& f, uint8_t* image, unsigned imageWidth)
      : f_(f), image_(image), stride_(imageWidth) {
    clear_ = 1 << f.codeBits;
    end_ = clear_ + 1;
    step_ = f.interlaced ? 8 : 1;
    pass_ = f.interlaced ? 1 : 0;
  }

  // Returns once the frame is full; throws at a broken code or the end of the data.
  void run(const uint8_t* data, size_t size) {
    size_t pos = f_.dataOffset;
    if (f_.width == 0 || f_.height == 0) return;
    int state = 1;
    int codeSize = 0, codeMask = 0, next = 0, lastCode = 0;
    uint8_t lastData = 0;
    uint32_t bitBuffer = 0;
    int bitCount = 0;
    size_t blockLeft = 0;
    for (;;) {
      if (state == 1) {
        next = clear_ + 2;
        codeSize = f_.codeBits + 1;
        codeMask = (1 << codeSize) - 1;
        state = 2;
      }
      while (bitCount < codeSize) {
        if (blockLeft > 0) {
          bitBuffer |= uint32_t(data[pos++]) << bitCount;
          bitCount += 8;
          --blockLeft;
        } else {
          // A sub-block is only started once all of it is there; a 0 length is skipped.
          if (pos >= size || size - pos < size_t(data[pos]) + 1) truncated("inside the image data");
          blockLeft = data[pos++];
        }
      }
      int c = static_cast<int>(bitBuffer & codeMask);
      bitBuffer >>= codeSize;
      bitCount -= codeSize;
      if (c == clear_) {
        if (state != 2) state = 1;
        continue;
      }
      if (c == end_) continue;  // PIL's decoder reads on past an early end code

      if (state == 2) {
        if (c > clear_) corrupt("the first code after a clear code is not a literal");
        lastData = static_cast<uint8_t>(c);
        lastCode = c;
        state = 3;
        if (emit(&lastData, 1)) return;
        continue;
      }
      const int thisCode = c;
      if (c > next) corrupt("an LZW code refers past the table (PIL: broken data stream)");
      size_t index = kTableSize;
      if (c == next) {
        buffer_[--index] = lastData;
        c = lastCode;
      }
      while (c >= clear_) {
        if (index == 0 || c >= kTableSize) corrupt("an LZW string is too long (PIL: broken data stream)");
        buffer_[--index] = suffix_[c];
        c = prefix_[c];
      }
      lastData = static_cast<uint8_t>(c);
      if (next < kTableSize) {
        suffix_[next] = static_cast<uint8_t>(c);
        prefix_[next] = static_cast<uint16_t>(lastCode);
        if (next == codeMask && codeSize < kMaxCodeBits) {
          ++codeSize;
          codeMask = (1 << codeSize) - 1;
        }
        ++next;
      }
      lastCode = thisCode;
      // The string's first byte, then the rest from the buffer (filled from the right).
      if (emit(&lastData, 1) || emit(buffer_.data() + index, kTableSize - index)) return;
    }
  }

 private:
  // Writes pixels in raster (or Adam-style GIF interlace) order; true once the frame is full.
  bool emit(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      image_[size_t(f_.y0 + y_) * stride_ + f_.x0 + x_] = p[i];
      if (++x_ >= f_.width && newLine()) return true;
    }
    return false;
  }

  // GifDecode.c NEWLINE: next row of this pass, or the first row of the next pass.
  bool newLine() {
    x_ = 0;
    y_ += step_;
    while (y_ >= f_.height) {
      switch (pass_) {
        case 1: y_ = 4; pass_ = 2; break;
        case 2: step_ = 4; y_ = 2; pass_ = 3; break;
        case 3: step_ = 2; y_ = 1; pass_ = 0; break;
        default: return true;
      }
    }
    return false;
  }

  const Frame& f_;
  uint8_t* image_;
  size_t stride_;
  int clear_, end_;
  unsigned x_ = 0, y_ = 0, step_, pass_;
  std::array<uint8_t, kTableSize> suffix_{};
  std::array<uint16_t, kTableSize> prefix_{};
  std::array<uint8_t, kTableSize> buffer_{};
};

}  // namespace

RgbImage decodeGif(const uint8_t* data, size_t size, const DecodeOptions& options) {
  Reader r{data, size, 0};
  if (size < 13) truncated("inside the header");
  unsigned width = r.u16(6), height = r.u16(8);
  const uint8_t screenFlags = data[10];
  r.pos = 13;
  Palette global;
  if (screenFlags & 0x80) global = readPalette(&r, (screenFlags & 7) + 1);

  // GifImagePlugin._seek(0): extensions, then the first image descriptor.
  Frame frame{};
  bool found = false;
  if (!r.has(1)) truncated("before the first image");
  if (data[r.pos] == ';') corrupt("the file holds no image");
  while (!found) {
    if (!r.has(1)) truncated("before the first image");
    const uint8_t introducer = data[r.pos++];
    if (introducer == ';') corrupt("the file holds no image");
    if (introducer == '!') {
      const uint8_t label = r.byte("inside an extension");
      const uint8_t* block = nullptr;
      size_t length = 0;
      if (r.subBlock(&block, &length)) {
        if (label == 0xF9) {  // graphic control: the transparency index, if flagged
          if (length < 1) truncated("inside an extension");
          if (block[0] & 1) {
            if (length < 4) truncated("inside an extension");
            frame.transparency = block[3];
          }
        }
        r.skipSubBlocks();
      }
    } else if (introducer == ',') {
      if (!r.has(9)) truncated("inside an image descriptor");
      const size_t d = r.pos;
      frame.x0 = r.u16(d);
      frame.y0 = r.u16(d + 2);
      frame.width = r.u16(d + 4);
      frame.height = r.u16(d + 6);
      const uint8_t flags = data[d + 8];
      r.pos += 9;
      frame.interlaced = (flags & 0x40) != 0;
      // PIL grows the image to hold a frame that extends past the logical screen.
      width = std::max(width, frame.x0 + frame.width);
      height = std::max(height, frame.y0 + frame.height);
      if (flags & 0x80) {
        frame.palette = readPalette(&r, (flags & 7) + 1);
      } else {
        frame.palette = global;
      }
      frame.codeBits = r.byte("before the image data");
      frame.dataOffset = r.pos;
      found = true;
    }
    // Any other byte is skipped, one at a time, as GifImagePlugin does.
  }
  detail::checkImageSize(width, height, options, "GIF");
  // PIL's GIF decoder takes 1..11 bits of initial code size.
  if (frame.codeBits < 1 || frame.codeBits >= kMaxCodeBits) {
    corrupt("bad LZW code size " + std::to_string(frame.codeBits));
  }

  // load_prepare: the frame is drawn onto an image filled with the transparency index (or 0).
  std::vector<uint8_t> indices(size_t(width) * height,
                               static_cast<uint8_t>(frame.transparency < 0 ? 0 : frame.transparency));
  Lzw lzw(frame, indices.data(), width);
  lzw.run(data, size);

  // convert("RGB"): "P" looks the index up (past the table: black), "L" replicates it.
  RgbImage image(static_cast<int>(width), static_cast<int>(height));
  uint8_t* out = image.pixels.data();
  const Palette& p = frame.palette;
  for (size_t i = 0; i < indices.size(); ++i, out += 3) {
    const uint8_t v = indices[i];
    if (!p.present) {
      out[0] = out[1] = out[2] = v;
    } else if (v < p.entries) {
      std::memcpy(out, p.rgb + 3 * size_t(v), 3);
    } else {
      out[0] = out[1] = out[2] = 0;
    }
  }
  return image;
}

}  // namespace chori::image
