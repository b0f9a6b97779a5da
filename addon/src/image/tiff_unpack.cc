// TIFF samples → RGB as Pillow's unpackers and convert("RGB") (see tiff_unpack.h).
#include "image/tiff_unpack.h"

#include <algorithm>
#include <cstring>

#include <tiffio.h>

#include "image/cmyk.h"

namespace chori::image::tiff {

// The keys of OPEN_INFO with fill order 2: PIL looks the layout up with the file's fill order
// (libtiff then reverses the bits, as PIL's ";R" raw modes do), and has no other.
bool pilReadsFillOrder2(uint16_t photometric, unsigned bits, unsigned samples, unsigned extraCount, bool bigEndian) {
  if (samples != 1 || extraCount != 0) return photometric == PHOTOMETRIC_RGB && bits == 8 && samples == 3 && extraCount == 0;
  switch (photometric) {
    case PHOTOMETRIC_MINISWHITE: return bits == 1 || bits == 2 || bits == 4 || bits == 8;
    case PHOTOMETRIC_MINISBLACK: return bits == 1 || bits == 2 || bits == 4 || bits == 8 || (bits == 16 && !bigEndian);
    case PHOTOMETRIC_PALETTE: return bits == 1 || bits == 2 || bits == 4 || bits == 8;
    default: return false;
  }
}

// OPEN_INFO's signed and floating-point keys, and unsigned 32-bit: one grey sample. The
// 8-bit signed key is plain "L" (the bytes as they are).
bool pilWideLayout(uint16_t photometric, uint16_t sampleFormat, unsigned bits, unsigned samples,
                   unsigned extraCount, bool bigEndian, Format* out) {
  if (samples != 1 || extraCount != 0) return false;
  if (sampleFormat == SAMPLEFORMAT_IEEEFP) {  // "F;32F" / "F;32BF", either photometric
    const bool grey = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
    return grey && bits == 32 && (*out = {Layout::Float, 32, 1, false}, true);
  }
  if (photometric != PHOTOMETRIC_MINISBLACK) return false;
  if (sampleFormat == SAMPLEFORMAT_INT) {  // "L", "I;16S" / "I;16BS", "I;32S" / "I;32BS"
    if (bits == 8) return *out = {Layout::Grey, 8, 1, false}, true;
    return (bits == 16 || bits == 32) && (*out = {Layout::Int, bits, 1, false}, true);
  }
  // "I;32N": little-endian files only, read as signed.
  return sampleFormat == SAMPLEFORMAT_UINT && bits == 32 && !bigEndian && (*out = {Layout::Int, 32, 1, false}, true);
}

// TiffImagePlugin.OPEN_INFO for sample format 1 (unsigned) and fill order 1, contiguous
// planes: what we reproduce. `extra` is the first ExtraSamples value, or -1 without one.
bool pilLayout(uint16_t photometric, unsigned bits, unsigned samples, int extra, unsigned extraCount, bool bigEndian,
               Format* out) {
  const bool unassociated = extra == 0 || extra == 2 || extra == 999;
  switch (photometric) {
    case PHOTOMETRIC_MINISWHITE:
    case PHOTOMETRIC_MINISBLACK: {
      const bool white = photometric == PHOTOMETRIC_MINISWHITE;
      if (samples == 1 && bits == 1) return *out = {Layout::Bilevel, 1, 1, white}, true;
      if (samples == 1 && (bits == 2 || bits == 4 || bits == 8)) return *out = {Layout::Grey, bits, 1, white}, true;
      // "I;16" either photometric little-endian; big-endian, MinIsBlack only ("I;16B").
      if (samples == 1 && bits == 16 && !(white && bigEndian)) return *out = {Layout::Grey16, 16, 1, false}, true;
      // "I;12": packed 12-bit, little-endian MinIsBlack files only.
      if (!white && !bigEndian && samples == 1 && bits == 12) return *out = {Layout::Grey12, 12, 1, false}, true;
      // "LX" / "LA": grey and one unassociated extra sample, black is zero only.
      if (!white && samples == 2 && bits == 8 && extraCount == 1 && (extra == 0 || extra == 2)) {
        return *out = {Layout::Grey, 8, 2, false}, true;
      }
      return false;
    }
    case PHOTOMETRIC_RGB:
      if (bits != 8 && bits != 16) return false;
      if (samples == 3 && extraCount == 0) return *out = {bits == 8 ? Layout::Rgb : Layout::Rgb16, bits, 3, false}, true;
      // RGBA without ExtraSamples, RGBX, RGBA, RGBAX...: the colour is the first three.
      if (samples == 4 && extraCount == 0) return *out = {bits == 8 ? Layout::Rgb : Layout::Rgb16, bits, 4, false}, true;
      if (samples >= 4 && samples <= (bits == 8 ? 6u : 4u) && extraCount == samples - 3 && unassociated) {
        return *out = {bits == 8 ? Layout::Rgb : Layout::Rgb16, bits, samples, false}, true;
      }
      // "RGBa", "RGBaX", "RGBaXX", "RGBa;16L"/"RGBa;16B": associated (premultiplied) alpha.
      if (bits == 8 && samples >= 4 && samples <= 6 && extraCount == samples - 3 && extra == 1) {
        return *out = {Layout::RgbAssociated, 8, samples, false}, true;
      }
      if (bits == 16 && samples == 4 && extraCount == 1 && extra == 1) return *out = {Layout::RgbAssociated, 16, 4, false}, true;
      return false;
    case PHOTOMETRIC_PALETTE:
      if (samples == 1 && (bits == 1 || bits == 2 || bits == 4 || bits == 8)) return *out = {Layout::Palette, bits, 1, false}, true;
      if (samples == 2 && bits == 8 && extraCount == 1 && (extra == 0 || extra == 2)) {
        return *out = {Layout::Palette, 8, 2, false}, true;
      }
      return false;
    case PHOTOMETRIC_SEPARATED:
      if (bits == 8 && samples >= 4 && samples <= 6 && extraCount == samples - 4 && (extraCount == 0 || extra == 0)) {
        return *out = {Layout::Cmyk, 8, samples, false}, true;
      }
      if (bits == 16 && samples == 4 && extraCount == 0) return *out = {Layout::Cmyk16, 16, 4, false}, true;
      return false;
    default:
      return false;
  }
}

namespace {

// One "I" or "F" sample (libtiff's host order, swapped where PIL reads it in the file's) →
// convert("RGB"): Convert.c i2rgb clips to 0..255; F goes through L, f2l truncating (NaN: 0).
uint8_t wideSample(const Format& f, const uint8_t* p) {
  if (f.bits == 16) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    if (f.swap) v = static_cast<uint16_t>(v >> 8 | v << 8);
    const int16_t i = static_cast<int16_t>(v);
    return static_cast<uint8_t>(i <= 0 ? 0 : (i >= 255 ? 255 : i));
  }
  uint32_t v;
  std::memcpy(&v, p, 4);
  if (f.swap) v = __builtin_bswap32(v);
  if (f.layout == Layout::Float) {
    float x;
    std::memcpy(&x, &v, 4);
    if (x >= 255.0f) return 255;
    return x > 0.0f ? static_cast<uint8_t>(x) : 0;
  }
  const int32_t i = static_cast<int32_t>(v);
  return static_cast<uint8_t>(i <= 0 ? 0 : (i >= 255 ? 255 : i));
}

}  // namespace

// One row of packed samples → RGB.
void unpackRow(const Format& f, const uint8_t* in, uint8_t* out, uint32_t width, const Palette& palette) {
  for (uint32_t x = 0; x < width; ++x, out += 3) {
    switch (f.layout) {
      case Layout::Bilevel: {
        const bool bit = (in[x >> 3] >> (7 - (x & 7))) & 1;
        out[0] = out[1] = out[2] = (bit != f.invert) ? 255 : 0;
        break;
      }
      case Layout::Grey: {
        unsigned v;
        if (f.bits == 8) {
          v = in[static_cast<size_t>(x) * f.samples];
        } else {  // Pillow Unpack.c unpackL2 / unpackL4: v * 85, v * 17
          const unsigned perByte = 8 / f.bits;
          const unsigned shift = 8 - f.bits * (1 + x % perByte);
          v = ((in[x / perByte] >> shift) & ((1u << f.bits) - 1)) * (255u / ((1u << f.bits) - 1));
        }
        const uint8_t g = static_cast<uint8_t>(f.invert ? 255 - v : v);
        out[0] = out[1] = out[2] = g;
        break;
      }
      case Layout::Grey12: {  // Unpack.c "I;12": two pixels in three bytes, high nibble first
        const uint8_t* p = in + static_cast<size_t>(x / 2) * 3;
        const unsigned v = x % 2 == 0 ? (p[0] << 4 | p[1] >> 4) : ((p[1] & 0x0F) << 8 | p[2]);
        out[0] = out[1] = out[2] = static_cast<uint8_t>(v > 255 ? 255 : v);  // I;16 → RGB clips
        break;
      }
      case Layout::Grey16: {  // I;16 → RGB clips to 255
        uint16_t v;
        std::memcpy(&v, in + 2 * static_cast<size_t>(x), 2);  // libtiff gives host order
        out[0] = out[1] = out[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
        break;
      }
      case Layout::Palette: {
        unsigned i;
        if (f.bits == 8) {
          i = in[static_cast<size_t>(x) * f.samples];
        } else {
          const unsigned perByte = 8 / f.bits;
          const unsigned shift = 8 - f.bits * (1 + x % perByte);
          i = (in[x / perByte] >> shift) & ((1u << f.bits) - 1);
        }
        std::memcpy(out, palette.rgb[i], 3);
        break;
      }
      case Layout::Rgb: {
        const uint8_t* p = in + static_cast<size_t>(x) * f.samples;
        out[0] = p[0];
        out[1] = p[1];
        out[2] = p[2];
        break;
      }
      case Layout::RgbAssociated: {
        // Pillow Unpack.c "RGBa": un-premultiplied on unpacking, c * 255 / a truncated and
        // capped at 255, 0 where a is 0 (checked against Pillow 13 on all 65536 (c, a) pairs);
        // "RGBa;16": the same on the samples' high bytes.
        unsigned v[4];
        for (int c = 0; c < 4; ++c) {
          if (f.bits == 8) {
            v[c] = in[static_cast<size_t>(x) * f.samples + c];
          } else {
            uint16_t s16;
            std::memcpy(&s16, in + 2 * (static_cast<size_t>(x) * 4 + c), 2);
            v[c] = s16 >> 8;
          }
        }
        for (int c = 0; c < 3; ++c) out[c] = v[3] == 0 ? 0 : static_cast<uint8_t>(std::min(255u, v[c] * 255u / v[3]));
        break;
      }
      case Layout::Rgb16: {  // RGB;16L / RGB;16B keep the high byte
        for (int c = 0; c < 3; ++c) {
          uint16_t v;
          std::memcpy(&v, in + 2 * (static_cast<size_t>(x) * f.samples + c), 2);
          out[c] = static_cast<uint8_t>(v >> 8);
        }
        break;
      }
      case Layout::Cmyk: {
        const uint8_t* p = in + static_cast<size_t>(x) * f.samples;
        cmykToRgb(p[0], p[1], p[2], p[3], out);
        break;
      }
      case Layout::Int:
      case Layout::Float:
        out[0] = out[1] = out[2] = wideSample(f, in + static_cast<size_t>(x) * (f.bits / 8));
        break;
      case Layout::Cmyk16: {
        uint8_t hi[4];
        for (int c = 0; c < 4; ++c) {
          uint16_t v;
          std::memcpy(&v, in + 2 * (static_cast<size_t>(x) * 4 + c), 2);
          hi[c] = static_cast<uint8_t>(v >> 8);
        }
        cmykToRgb(hi[0], hi[1], hi[2], hi[3], out);
        break;
      }
    }
  }
}

}  // namespace chori::image::tiff
