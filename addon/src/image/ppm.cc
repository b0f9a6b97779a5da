// Netpbm → RgbImage: a port of PIL's PpmImagePlugin (header tokens, the raw, "ppm" and
// "ppm_plain" decoders and their rounding), then convert("RGB") of the mode it yields.
#include "image/ppm.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "chori/error.h"
#include "image/cmyk.h"

namespace chori::image {

namespace {

enum class Mode { Bilevel, Grey, Rgb, Rgba, Cmyk, Palette, Float };

[[noreturn]] void corrupt(const std::string& what) { throw Error(code::kDecode, "PPM data is corrupt: " + what); }
[[noreturn]] void truncated(const char* where) {
  throw Error(code::kTruncated, std::string("PPM data is truncated: ") + where + " (PIL: image file is truncated)");
}

// PIL b_whitespace (also what bytes.split() splits on).
bool isSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Python's int(bytes) for the tokens PIL reads: an optional sign, digits, single underscores
// between digits. Tokens are at most 10 characters, so int64 holds every value.
bool parseInt(std::string_view t, int64_t* out) {
  size_t i = 0;
  bool negative = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) negative = t[i++] == '-';
  if (i == t.size()) return false;
  int64_t v = 0;
  bool lastDigit = false;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c >= '0' && c <= '9') {
      v = v * 10 + (c - '0');
      lastDigit = true;
    } else if (c == '_' && lastDigit && i + 1 < t.size()) {
      lastDigit = false;
    } else {
      return false;
    }
  }
  if (!lastDigit) return false;
  *out = negative ? -v : v;
  return true;
}

// PpmImageFile._read_token: skips whitespace and comments, stops after 10 characters.
struct HeaderReader {
  const uint8_t* data;
  size_t size;
  size_t pos;

  std::string token() {
    std::string t;
    while (t.size() <= 10) {
      if (pos >= size) break;
      const uint8_t c = data[pos++];
      if (isSpace(c)) {
        if (t.empty()) continue;
        break;
      }
      if (c == '#') {  // to the next \r or \n (or the end), both consumed
        while (pos < size && data[pos] != '\r' && data[pos] != '\n') ++pos;
        if (pos < size) ++pos;
        continue;
      }
      t += static_cast<char>(c);
    }
    if (t.empty()) truncated("the header ends before its last field (PIL: Reached EOF while reading header)");
    if (t.size() > 10) corrupt("a header field is longer than 10 characters");
    return t;
  }

  int64_t integer(const char* what) {
    int64_t v;
    if (!parseInt(token(), &v)) corrupt(std::string("the ") + what + " is not an integer");
    return v;
  }
};

// Python's float(bytes) for a decimal token: [sign] digits ["." digits] [e [sign] digits], with
// single underscores between digits. "inf" and "nan" are Python floats too, but PIL refuses
// them as scales, as it does zero, so they need not parse.
bool parseFloat(std::string_view t, double* out) {
  std::string clean;
  size_t i = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) clean += t[i++];
  auto digits = [&](bool required) {
    size_t n = 0;
    while (i < t.size()) {
      if (t[i] >= '0' && t[i] <= '9') {
        clean += t[i++];
        ++n;
      } else if (t[i] == '_' && n > 0 && i + 1 < t.size() && t[i + 1] >= '0' && t[i + 1] <= '9') {
        ++i;
      } else {
        break;
      }
    }
    return n > 0 || !required;
  };
  const size_t before = clean.size();
  digits(false);
  const bool intPart = clean.size() > before;
  if (i < t.size() && t[i] == '.') {
    clean += t[i++];
    const size_t at = clean.size();
    digits(false);
    if (!intPart && clean.size() == at) return false;
  } else if (!intPart) {
    return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    clean += t[i++];
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) clean += t[i++];
    if (!digits(true)) return false;
  }
  if (i != t.size()) return false;
  const char* first = clean.data() + (clean[0] == '+' ? 1 : 0);
  const auto [end, ec] = std::from_chars(first, clean.data() + clean.size(), *out);
  // Out of range is an overflow (Python: inf) or an underflow to zero: neither is a scale.
  return ec == std::errc() && end == clean.data() + clean.size();
}

// Pillow Convert.c f2l (F → L, then replicated): truncation, 0 and below (and NaN) black.
inline uint8_t floatToGrey(float v) {
  if (v >= 255.0f) return 255;
  if (v > 0.0f) return static_cast<uint8_t>(v);
  return 0;
}

// Python's round(value / maxval * outMax): the division and product in double, then
// round-half-even (std::nearbyint in the default rounding mode).
inline int64_t scaled(int64_t value, int64_t maxval, int64_t outMax) {
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(value) / static_cast<double>(maxval) *
                                             static_cast<double>(outMax)));
}

inline uint8_t clip8(int64_t v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// The samples of a "ppm_plain" image (PpmPlainDecoder._decode_blocks): comments removed with
// their line end (so the text either side joins), whitespace-separated decimal tokens, each
// at most 10 characters, 0 <= value <= maxval, scaled to outMax.
std::vector<int64_t> plainSamples(const uint8_t* p, size_t n, size_t count, int64_t maxval, int64_t outMax) {
  std::vector<int64_t> out;
  out.reserve(count);
  std::string t;
  auto flush = [&]() {
    if (t.empty()) return;
    if (t.size() > 10) corrupt("a sample is longer than 10 characters");
    int64_t v;
    if (!parseInt(t, &v)) corrupt("a sample is not an integer");
    if (v < 0) corrupt("a sample is negative");
    if (v > maxval) corrupt("a sample is larger than the maximum value " + std::to_string(maxval));
    out.push_back(scaled(v, maxval, outMax));
    t.clear();
  };
  for (size_t i = 0; i < n && out.size() < count; ++i) {
    const uint8_t c = p[i];
    if (c == '#') {
      while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
      continue;
    }
    if (isSpace(c)) {
      flush();
    } else {
      t += static_cast<char>(c);
      if (t.size() > 11) corrupt("a sample is longer than 10 characters");
    }
  }
  if (out.size() < count) flush();
  if (out.size() < count) truncated("the samples end before the image does (PIL: not enough image data)");
  return out;
}

// PpmPlainDecoder._decode_bitonal: '0' white, '1' black, whitespace optional between them;
// PIL checks every character of each 1 MiB block it reads (ImageFile.SAFEBLOCK), even past
// the last pixel, so a stray character anywhere in the first block is an error.
std::vector<uint8_t> plainBits(const uint8_t* p, size_t n, size_t count) {
  constexpr size_t kBlock = 1024 * 1024;
  std::vector<uint8_t> out;
  out.reserve(count);
  bool inComment = false;
  for (size_t start = 0; start < n && out.size() < count; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    std::vector<uint8_t> block;
    for (size_t i = start; i < end; ++i) {
      const uint8_t c = p[i];
      if (inComment) {
        if (c == '\n' || c == '\r') inComment = false;
        continue;
      }
      if (c == '#') {
        inComment = true;
      } else if (!isSpace(c)) {
        if (c != '0' && c != '1') corrupt(std::string("invalid character '") + char(c) + "' in a plain PBM");
        block.push_back(c == '0' ? 255 : 0);
      }
    }
    for (uint8_t v : block) {
      if (out.size() == count) break;
      out.push_back(v);
    }
  }
  if (out.size() < count) truncated("the pixels end before the image does (PIL: not enough image data)");
  return out;
}

// "Pf" (PFM): 32-bit floats, rows bottom to top (PIL's raw "F;32F" little-endian when the
// scale is negative, "F;32BF" otherwise, row order -1); the scale is kept, not applied.
RgbImage decodeFloat(const uint8_t* p, size_t n, int width, int height, bool littleEndian) {
  const size_t pixels = size_t(width) * size_t(height);
  if (n / 4 < pixels) truncated("the pixels end before the image does");
  RgbImage out(width, height);
  for (int y = 0; y < height; ++y) {
    const uint8_t* s = p + size_t(height - 1 - y) * size_t(width) * 4;
    uint8_t* o = out.row(y);
    for (int x = 0; x < width; ++x, s += 4, o += 3) {
      const uint32_t bits = littleEndian ? uint32_t(s[0]) | uint32_t(s[1]) << 8 | uint32_t(s[2]) << 16 | uint32_t(s[3]) << 24
                                         : uint32_t(s[3]) | uint32_t(s[2]) << 8 | uint32_t(s[1]) << 16 | uint32_t(s[0]) << 24;
      float v;
      std::memcpy(&v, &bits, 4);
      o[0] = o[1] = o[2] = floatToGrey(v);
    }
  }
  return out;
}

}  // namespace

RgbImage decodePpm(const uint8_t* data, size_t size, const DecodeOptions& options) {
  // PpmImageFile._read_magic: up to 6 characters, ended by whitespace (consumed) or the end.
  HeaderReader in{data, size, 0};
  std::string magic;
  while (magic.size() < 6 && in.pos < size) {
    const uint8_t c = data[in.pos++];
    if (isSpace(c)) break;
    magic += static_cast<char>(c);
  }
  Mode mode;
  if (magic == "P1" || magic == "P4") mode = Mode::Bilevel;
  else if (magic == "P2" || magic == "P5") mode = Mode::Grey;
  else if (magic == "P3" || magic == "P6") mode = Mode::Rgb;
  else if (magic == "PyRGBA") mode = Mode::Rgba;
  else if (magic == "P0CMYK" || magic == "PyCMYK") mode = Mode::Cmyk;
  else if (magic == "PyP") mode = Mode::Palette;
  else if (magic == "Pf") mode = Mode::Float;
  else {
    corrupt("unknown magic number");
  }
  const bool plain = magic == "P1" || magic == "P2" || magic == "P3";
  const int64_t width = in.integer("width");
  const int64_t height = in.integer("height");
  int64_t maxval = 1;
  double scale = 0;
  if (mode == Mode::Float) {
    if (!parseFloat(in.token(), &scale) || scale == 0.0 || !std::isfinite(scale)) {
      corrupt("the scale must be a finite, non-zero number");
    }
  } else if (mode != Mode::Bilevel) {
    maxval = in.integer("maximum value");
    if (maxval <= 0 || maxval >= 65536) corrupt("the maximum value must be between 1 and 65535");
  }
  if (width < 0 || height < 0) corrupt("negative image size");
  detail::checkImageSize(uint64_t(width), uint64_t(height), options, "PPM");
  if (mode == Mode::Float) return decodeFloat(data + in.pos, size - in.pos, int(width), int(height), scale < 0);

  const int bands = mode == Mode::Bilevel || mode == Mode::Grey || mode == Mode::Palette ? 1 : (mode == Mode::Rgb ? 3 : 4);
  // PIL's mode is "I" for grey above 255; convert("RGB") then clips each value to 0..255.
  const bool wide = mode == Mode::Grey && maxval > 255;
  const size_t pixels = size_t(width) * size_t(height);
  const size_t count = pixels * bands;
  const uint8_t* p = data + in.pos;
  const size_t n = size - in.pos;

  std::vector<int64_t> samples;  // one per band and pixel, in PIL's mode's range
  if (mode == Mode::Bilevel) {
    std::vector<uint8_t> bits;
    if (plain) {
      bits = plainBits(p, n, pixels);
    } else {  // raw "1;I": rows padded to a byte, 1 is black
      const size_t stride = (size_t(width) + 7) / 8;
      if (n < stride * size_t(height)) truncated("the pixels end before the image does");
      bits.resize(pixels);
      for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
          const uint8_t byte = p[size_t(y) * stride + size_t(x) / 8];
          bits[size_t(y) * width + x] = (byte >> (7 - x % 8)) & 1 ? 0 : 255;
        }
      }
    }
    samples.assign(bits.begin(), bits.end());
  } else if (plain) {
    samples = plainSamples(p, n, count, maxval, wide ? 65535 : 255);
  } else {
    // The raw decoder for maxval 255 (and 65535 grey, "I;16B"); PpmDecoder otherwise, which
    // scales each sample and caps it at the mode's maximum.
    const size_t bytesPer = maxval < 256 ? 1 : 2;
    if (n < count * bytesPer) truncated("the pixels end before the image does");
    samples.resize(count);
    const int64_t outMax = wide ? 65535 : 255;
    const bool raw = maxval == 255 || (maxval == 65535 && mode == Mode::Grey);
    for (size_t i = 0; i < count; ++i) {
      const int64_t v = bytesPer == 1 ? p[i] : (p[2 * i] << 8) | p[2 * i + 1];
      samples[i] = raw ? v : std::min(outMax, scaled(v, maxval, outMax));
    }
  }

  RgbImage out(static_cast<int>(width), static_cast<int>(height));
  uint8_t* o = out.pixels.data();
  const int64_t* s = samples.data();
  for (size_t i = 0; i < pixels; ++i, o += 3, s += bands) {
    switch (mode) {
      case Mode::Bilevel:
      case Mode::Grey:
        o[0] = o[1] = o[2] = clip8(s[0]);
        break;
      case Mode::Rgb:
      case Mode::Rgba:  // alpha dropped
        o[0] = clip8(s[0]);
        o[1] = clip8(s[1]);
        o[2] = clip8(s[2]);
        break;
      case Mode::Cmyk:
        cmykToRgb(uint8_t(s[0]), uint8_t(s[1]), uint8_t(s[2]), uint8_t(s[3]), o);
        break;
      case Mode::Palette:
        // PIL gives a "PyP" image no palette: convert("RGB") looks every index up in an
        // all-zero one, so the image is black whatever its indices (which are still read).
        o[0] = o[1] = o[2] = 0;
        break;
      case Mode::Float:
        break;  // decodeFloat
    }
  }
  return out;
}

}  // namespace chori::image
