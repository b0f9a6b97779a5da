// TIFF samples → RGB: the raw modes TiffImagePlugin.OPEN_INFO names for a layout
// (photometric, bits, samples, extra samples), unpacked as Pillow's unpackers do and converted
// as convert("RGB") does. libtiff (tiff.cc) supplies the rows.
#pragma once

#include <cstdint>

namespace chori::image::tiff {

// How the samples of one pixel become RGB (Pillow's raw modes, then convert("RGB")).
// Int and Float are PIL's modes "I" (I;16S, I;32S, I;32N) and "F" (F;32F): one sample.
enum class Layout { Bilevel, Grey, Grey12, Grey16, Palette, Rgb, RgbAssociated, Rgb16, Cmyk, Cmyk16, Int, Float };

struct Format {
  Layout layout;
  unsigned bits;
  unsigned samples;
  bool invert;  // MinIsWhite: PIL's "1;I", "L;2I", "L;4I", "L;I" (not I;16)
  bool swap = false;  // Int/Float: PIL reads libtiff's host-order samples in the file's order
};

struct Palette {
  uint8_t rgb[256][3] = {};
};

// The keys of OPEN_INFO with fill order 2: PIL looks the layout up with the file's fill order
// (libtiff then reverses the bits, as PIL's ";R" raw modes do), and has no other.
bool pilReadsFillOrder2(uint16_t photometric, unsigned bits, unsigned samples, unsigned extraCount, bool bigEndian);

// OPEN_INFO's signed and floating-point keys, and unsigned 32-bit: one grey sample.
bool pilWideLayout(uint16_t photometric, uint16_t sampleFormat, unsigned bits, unsigned samples,
                   unsigned extraCount, bool bigEndian, Format* out);

// OPEN_INFO for sample format 1 (unsigned) and fill order 1. `extra` is the first ExtraSamples
// value, or -1 without one.
bool pilLayout(uint16_t photometric, unsigned bits, unsigned samples, int extra, unsigned extraCount, bool bigEndian,
               Format* out);

// One row of packed samples (libtiff's host byte order) → RGB.
void unpackRow(const Format& f, const uint8_t* in, uint8_t* out, uint32_t width, const Palette& palette);

}  // namespace chori::image::tiff
