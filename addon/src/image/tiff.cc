// TIFF → RgbImage: libtiff reads the first directory and decompresses each strip or tile;
// each row is then unpacked as Pillow's unpacker for the raw mode TiffImagePlugin.OPEN_INFO
// gives (tiff_unpack.h); YCbCr and the layouts PIL reads itself are read as PIL reads them.
#include "image/tiff.h"

#include <algorithm>
#include <bit>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <tiffio.h>

#include "chori/error.h"
#include "image/tiff_unpack.h"
#include "image/orientation.h"

namespace chori::image {

using tiff::Format;
using tiff::Layout;
using tiff::Palette;
using tiff::pilLayout;
using tiff::pilReadsFillOrder2;
using tiff::pilWideLayout;
using tiff::unpackRow;

namespace {

// The bytes libtiff reads, as a file.
struct Source {
  const uint8_t* data;
  size_t size;
  uint64_t pos = 0;
  std::string error = {};  // libtiff's first error message
};

tmsize_t readProc(thandle_t h, void* buf, tmsize_t n) {
  auto* s = static_cast<Source*>(h);
  if (n <= 0 || s->pos >= s->size) return 0;
  const size_t take = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(n), s->size - s->pos));
  std::memcpy(buf, s->data + s->pos, take);
  s->pos += take;
  return static_cast<tmsize_t>(take);
}
tmsize_t writeProc(thandle_t, void*, tmsize_t) { return 0; }
toff_t seekProc(thandle_t h, toff_t off, int whence) {
  auto* s = static_cast<Source*>(h);
  uint64_t base = whence == SEEK_CUR ? s->pos : (whence == SEEK_END ? s->size : 0);
  s->pos = base + off;
  return s->pos;
}
int closeProc(thandle_t) { return 0; }
toff_t sizeProc(thandle_t h) { return static_cast<Source*>(h)->size; }
int mapProc(thandle_t, void**, toff_t*) { return 0; }
void unmapProc(thandle_t, void*, toff_t) {}

int onError(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* s = static_cast<Source*>(user);
  if (s->error.empty()) {
    char buf[256];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    s->error = std::string(module ? module : "libtiff") + ": " + buf;
  }
  return 1;  // handled: nothing on stderr
}
int onWarning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
struct OptionsFree {
  void operator()(TIFFOpenOptions* o) const { TIFFOpenOptionsFree(o); }
};

[[noreturn]] void unsupported(const std::string& what) {
  throw Error(code::kUnsupportedFormat, "TIFF " + what + " is not supported");
}
[[noreturn]] void corrupt(const Source& src, const std::string& what) {
  throw Error(code::kDecode, "TIFF data is corrupt: " + what + (src.error.empty() ? "" : " (" + src.error + ")"));
}

void installGlobalHandlers() {
  // Errors of a TIFF without its own handler (there are none of ours) would print to stderr.
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(nullptr);
    TIFFSetWarningHandler(nullptr);
  });
}

// Every strip or tile must lie inside the file: PIL reads them whole ("image file is
// truncated" from the raw decoder, a read error from libtiff).
void checkChunksPresent(TIFF* tif, const Source& src, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t offset = TIFFGetStrileOffset(tif, i);
    const uint64_t bytes = TIFFGetStrileByteCount(tif, i);
    if (offset > src.size || bytes > src.size - offset) {
      throw Error(code::kTruncated, "TIFF data is truncated: strip or tile " + std::to_string(i) +
                                        " ends past the end of the file (PIL: image file is truncated)");
    }
  }
}

// Pillow ConvertYCbCr.c ImagingConvertYCbCr2RGB: JFIF coefficients in 6-bit fixed point, each
// table entry (int)(c * (i - 128) * 64 + 0.5) (C truncation), the sum shifted right, clipped
// (equal to Pillow 13 on all 2^24 inputs).
struct YCbCrTables {
  int rCr[256], gCb[256], gCr[256], bCb[256];
  YCbCrTables() {
    for (int i = 0; i < 256; ++i) {
      auto entry = [i](double c) { return static_cast<int>(c * (i - 128) * 64.0 + 0.5); };
      rCr[i] = entry(1.402);
      gCb[i] = entry(-0.34414);
      gCr[i] = entry(-0.71414);
      bCb[i] = entry(1.772);
    }
  }
};

void ycbcrToRgb(const uint8_t* in, uint8_t* out) {
  static const YCbCrTables tables;
  const int y = in[0], cb = in[1], cr = in[2];
  const int v[3] = {y + (tables.rCr[cr] >> 6), y + ((tables.gCb[cb] + tables.gCr[cr]) >> 6), y + (tables.bCb[cb] >> 6)};
  for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(v[c] <= 0 ? 0 : (v[c] >= 255 ? 255 : v[c]));
}

// Uncompressed YCbCr: PIL's raw decoder, mode "YCbCr", reads 3 bytes a pixel, rows of the
// strip's (or tile's) width from its offset, whatever the YCbCrSubsampling tag says, then
// convert("RGB") (ycbcrToRgb).
RgbImage decodeRawYCbCrTiles(TIFF* t, const uint8_t* data, size_t size, uint32_t width, uint32_t height) {
  uint32_t tileW = 0, tileH = 0;
  TIFFGetField(t, TIFFTAG_TILEWIDTH, &tileW);
  TIFFGetField(t, TIFFTAG_TILELENGTH, &tileH);
  if (tileW == 0 || tileH == 0) unsupported("YCbCr tiles of no size");
  RgbImage out(static_cast<int>(width), static_cast<int>(height));
  for (uint32_t y0 = 0; y0 < height; y0 += tileH) {
    for (uint32_t x0 = 0; x0 < width; x0 += tileW) {
      const uint64_t offset = TIFFGetStrileOffset(t, TIFFComputeTile(t, x0, y0, 0, 0));
      const uint32_t cols = std::min(tileW, width - x0), rows = std::min(tileH, height - y0);
      const uint64_t stride = uint64_t(tileW) * 3;
      if (offset > size || (rows - 1) * stride + cols * 3 > size - offset) {
        throw Error(code::kTruncated, "TIFF data is truncated: a tile ends past the end of the file");
      }
      for (uint32_t r = 0; r < rows; ++r) {
        const uint8_t* in = data + offset + r * stride;
        uint8_t* o = out.row(static_cast<int>(y0 + r)) + size_t(x0) * 3;
        for (uint32_t x = 0; x < cols; ++x) ycbcrToRgb(in + 3 * x, o + 3 * x);
      }
    }
  }
  return out;
}

RgbImage decodeRawYCbCr(TIFF* t, const uint8_t* data, size_t size, uint32_t width, uint32_t height) {
  if (TIFFIsTiled(t)) return decodeRawYCbCrTiles(t, data, size, width, height);
  uint32_t rowsPerStrip = height;
  TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rowsPerStrip);
  rowsPerStrip = std::min(std::max<uint32_t>(rowsPerStrip, 1), height);
  const uint32_t strips = (height + rowsPerStrip - 1) / rowsPerStrip;
  if (TIFFNumberOfStrips(t) != strips) unsupported("uncompressed YCbCr with " + std::to_string(TIFFNumberOfStrips(t)) + " strips");
  RgbImage out(static_cast<int>(width), static_cast<int>(height));
  const size_t rowBytes = size_t(width) * 3;
  for (uint32_t s = 0, y = 0; y < height; ++s, y += rowsPerStrip) {
    const uint32_t rows = std::min(rowsPerStrip, height - y);
    const uint64_t offset = TIFFGetStrileOffset(t, s);
    if (offset > size || rowBytes * rows > size - offset) {
      throw Error(code::kTruncated, "TIFF data is truncated: strip " + std::to_string(s) +
                                        " ends past the end of the file (PIL: image file is truncated)");
    }
    for (uint32_t r = 0; r < rows; ++r) {
      const uint8_t* in = data + offset + r * rowBytes;
      uint8_t* o = out.row(static_cast<int>(y + r));
      for (uint32_t x = 0; x < width; ++x) ycbcrToRgb(in + 3 * x, o + 3 * x);
    }
  }
  return out;
}

// Any other YCbCr (compressed but not JPEG in one plane): TiffDecode.c _decodeAsRGBA, libtiff's
// TIFFRGBAImage in blocks of a strip's (or tile's) rows, its errors not stopping it (stoponerr
// 0), kept as R, G, B ("RGBX").
RgbImage decodeThroughRgba(TIFF* t, const Source& src, uint32_t width, uint32_t height) {
  char message[1024] = "";
  TIFFRGBAImage img;
  if (!TIFFRGBAImageOK(t, message) || !TIFFRGBAImageBegin(&img, t, 0, message)) corrupt(src, message);
  struct End {
    TIFFRGBAImage* img;
    ~End() { TIFFRGBAImageEnd(img); }
  } end{&img};
  // Rows as stored: libtiff flips nothing (Pillow 13 gives the file's orientation as the one
  // asked for, then transposes on load as for every TIFF).
  img.req_orientation = img.orientation;
  img.col_offset = 0;
  uint32_t rowsPerBlock = 0;
  const int found = TIFFIsTiled(t) ? TIFFGetFieldDefaulted(t, TIFFTAG_TILELENGTH, &rowsPerBlock)
                                   : TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rowsPerBlock);
  if (found != 1 || rowsPerBlock == UINT32_MAX) rowsPerBlock = height;
  rowsPerBlock = std::min(std::max<uint32_t>(rowsPerBlock, 1), height);
  if (img.width != width || img.height != height) corrupt(src, "the RGBA reader's size differs from the image's");
  RgbImage out(static_cast<int>(width), static_cast<int>(height));
  std::vector<uint32_t> block(size_t(width) * rowsPerBlock);
  for (uint32_t y = 0; y < height; y += rowsPerBlock) {
    img.row_offset = static_cast<int>(y);
    const uint32_t rows = std::min(rowsPerBlock, height - y);
    if (!TIFFRGBAImageGet(&img, block.data(), width, rows)) corrupt(src, "cannot decode a block of YCbCr rows");
    for (uint32_t r = 0; r < rows; ++r) {
      uint8_t* o = out.row(static_cast<int>(y + r));
      for (uint32_t x = 0; x < width; ++x, o += 3) {
        const uint32_t px = block[size_t(r) * width + x];
        o[0] = static_cast<uint8_t>(TIFFGetR(px));
        o[1] = static_cast<uint8_t>(TIFFGetG(px));
        o[2] = static_cast<uint8_t>(TIFFGetB(px));
      }
    }
  }
  return out;
}

// One plane's samples into their place among `samples` interleaved ones.
void interleavePlane(const uint8_t* plane, uint8_t* out, size_t pixels, uint32_t band, uint32_t samples,
                     size_t sampleBytes) {
  for (size_t i = 0; i < pixels; ++i) {
    std::memcpy(out + (i * samples + band) * sampleBytes, plane + i * sampleBytes, sampleBytes);
  }
}

// Writers that put the directory after the pixels (libtiff's do) leave a cut file without one.
bool firstDirectoryPastEnd(const uint8_t* d, size_t size) {
  const bool little = d[0] == 'I';
  if (d[2] == (little ? 43 : 0) && d[3] == (little ? 0 : 43)) {  // BigTIFF: 8-byte offset at 8
    uint64_t off = 0;
    for (int i = 0; i < 8; ++i) off |= uint64_t(d[little ? 8 + i : 15 - i]) << (8 * i);
    return off >= size - 8;
  }
  uint32_t off = 0;
  for (int i = 0; i < 4; ++i) off |= uint32_t(d[little ? 4 + i : 7 - i]) << (8 * i);
  return off >= size - 2;
}

}  // namespace

namespace {

RgbImage decodeTiffFile(const uint8_t* data, size_t size, const DecodeOptions& options, bool swappedVersion) {
  installGlobalHandlers();
  Source src{data, size};
  std::unique_ptr<TIFFOpenOptions, OptionsFree> opts(TIFFOpenOptionsAlloc());
  if (!opts) throw Error(code::kImageTooLarge, "not enough memory to open a TIFF");
  TIFFOpenOptionsSetErrorHandlerExtR(opts.get(), onError, &src);
  TIFFOpenOptionsSetWarningHandlerExtR(opts.get(), onWarning, &src);
  // "m": never memory-map (there is no file). libtiff reads the first directory: PIL's page 0.
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFClientOpenExt("image", "rm", &src, readProc, writeProc, seekProc,
                                                          closeProc, sizeProc, mapProc, unmapProc, opts.get()));
  if (!tif) {
    if (size < 16 || firstDirectoryPastEnd(data, size)) {
      throw Error(code::kTruncated, "TIFF data is truncated: the file ends before its first directory");
    }
    corrupt(src, "cannot read the first directory");
  }
  TIFF* t = tif.get();

  uint32_t width = 0, height = 0;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &width);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &height);
  detail::checkImageSize(width, height, options, "TIFF");

  uint16_t bits = 1, samples = 1, photometric = 0, planar = PLANARCONFIG_CONTIG, compression = COMPRESSION_NONE;
  uint16_t sampleFormat = SAMPLEFORMAT_UINT, fillOrder = FILLORDER_MSB2LSB;
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &samples);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &sampleFormat);
  TIFFGetFieldDefaulted(t, TIFFTAG_FILLORDER, &fillOrder);
  if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric)) corrupt(src, "no PhotometricInterpretation");
  uint16_t extraCount = 0;
  uint16_t* extraValues = nullptr;
  TIFFGetField(t, TIFFTAG_EXTRASAMPLES, &extraCount, &extraValues);
  const int extra = extraCount > 0 && extraValues ? extraValues[0] : -1;

  switch (compression) {
    case COMPRESSION_NONE: case COMPRESSION_LZW: case COMPRESSION_ADOBE_DEFLATE: case COMPRESSION_DEFLATE:
    case COMPRESSION_PACKBITS: case COMPRESSION_CCITTRLE: case COMPRESSION_CCITTFAX3: case COMPRESSION_CCITTFAX4:
    case COMPRESSION_JPEG: case COMPRESSION_ZSTD: case COMPRESSION_LZMA:  // as Pillow's libtiff
      break;
    case COMPRESSION_OJPEG:
      unsupported("old-style JPEG compression");
    default:
      unsupported("compression " + std::to_string(compression));
  }
  const bool bigEndian = data[0] == 'M';
  // PIL decodes every compressed file through libtiff, an uncompressed one itself.
  const bool viaLibtiff = compression != COMPRESSION_NONE;
  if (swappedVersion && viaLibtiff) {
    throw Error(code::kDecode, "TIFF header has its version number byte-swapped: libtiff refuses it, and "
                               "PIL reads such a file only uncompressed (PIL: decoder error)");
  }
  if (fillOrder != FILLORDER_MSB2LSB && (sampleFormat != SAMPLEFORMAT_UINT ||
                                         !pilReadsFillOrder2(photometric, bits, samples, extraCount, bigEndian))) {
    unsupported("fill order 2 with this layout (PIL: unknown pixel mode)");
  }
  const bool wide = sampleFormat != SAMPLEFORMAT_UINT || bits == 32;
  const bool separate = planar == PLANARCONFIG_SEPARATE && samples > 1;
  // Separate planes: libtiff's (compressed) path copies each plane into its band, 16-bit as its
  // high byte (TiffDecode.c, "R;16N"...). PIL's own raw decoder reads an uncompressed 16-bit
  // plane with the 8-bit band modes ("RGB;16L"[b]) over rows of `width` bytes (in tiles: see
  // below), and so do we.
  const bool rawWidePlanes = separate && !viaLibtiff && bits == 16;
  if (separate && bits != 8 && bits != 16) unsupported("planar (separate) layout with " + std::to_string(bits) + "-bit samples");
  if (rawWidePlanes && extra == 0) unsupported("uncompressed 16-bit planar layout with unspecified extra samples");
  // Pillow 13 transposes a TIFF by its Orientation tag as it loads it (load_end's
  // exif_transpose), asked or not; a second exif_transpose finds the tag gone.
  uint16_t orientation = 1;
  TIFFGetField(t, TIFFTAG_ORIENTATION, &orientation);
  Format format;
  if (photometric == PHOTOMETRIC_YCBCR) {
    // OPEN_INFO: 8-bit YCbCr (its one-sample "L" key libtiff refuses to open). TiffDecode.c
    // decodes a contiguous JPEG-compressed one with JPEGCOLORMODE_RGB (libjpeg converts to
    // RGB), any other compressed one through TIFFRGBAImage; PIL reads an uncompressed one itself.
    if (bits != 8 || sampleFormat != SAMPLEFORMAT_UINT || extraCount != 0 || samples != 3) {
      unsupported("YCbCr image of " + std::to_string(samples) + " x " + std::to_string(bits) + "-bit samples");
    }
    if (compression == COMPRESSION_JPEG && !separate) {
      TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
      format = {Layout::Rgb, 8, 3, false};
    } else if (viaLibtiff) {
      RgbImage out = decodeThroughRgba(t, src, width, height);
      applyOrientation(out, orientation);
      return out;
    } else {
      if (separate) unsupported("uncompressed YCbCr image in separate planes");
      RgbImage out = decodeRawYCbCr(t, data, size, width, height);
      applyOrientation(out, orientation);
      return out;
    }
  } else if (wide ? !pilWideLayout(photometric, sampleFormat, bits, samples, extraCount, bigEndian, &format)
                  : !pilLayout(photometric, bits, samples, extra, extraCount, bigEndian, &format)) {
    unsupported("image of photometric " + std::to_string(photometric) + ", " + std::to_string(samples) + " x " +
                std::to_string(bits) + "-bit samples of format " + std::to_string(sampleFormat) +
                (extra >= 0 ? ", extra sample " + std::to_string(extra) : ""));
  }
  // Through libtiff, PIL unpacks host-order samples with the file's raw mode ("F;32BF",
  // "I;16BS", "I;32BS" are not remapped to native as "I;16B" is): swapped in a big-endian file.
  format.swap = viaLibtiff && (format.layout == Layout::Int || format.layout == Layout::Float) &&
                bigEndian != (std::endian::native == std::endian::big);

  Palette palette;
  if (format.layout == Layout::Palette) {
    uint16_t *r = nullptr, *g = nullptr, *b = nullptr;
    if (!TIFFGetField(t, TIFFTAG_COLORMAP, &r, &g, &b) || !r || !g || !b) corrupt(src, "palette image without a colour map");
    for (unsigned i = 0; i < (1u << bits); ++i) {  // PIL: o8(v // 256) for each entry
      palette.rgb[i][0] = static_cast<uint8_t>(r[i] >> 8);
      palette.rgb[i][1] = static_cast<uint8_t>(g[i] >> 8);
      palette.rgb[i][2] = static_cast<uint8_t>(b[i] >> 8);
    }
  }

  if (rawWidePlanes) {  // the bands PIL fills are bytes, unpacked as the 8-bit layout
    if (format.layout != Layout::Rgb16 && format.layout != Layout::Cmyk16) unsupported("this 16-bit planar layout");
    format = {format.layout == Layout::Rgb16 ? Layout::Rgb : Layout::Cmyk, 8, samples, false};
  }
  RgbImage out(static_cast<int>(width), static_cast<int>(height));
  const uint64_t rowBytes = (static_cast<uint64_t>(width) * samples * format.bits + 7) / 8;
  if (TIFFIsTiled(t)) {
    uint32_t tileW = 0, tileH = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tileW);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &tileH);
    if (tileW == 0 || tileH == 0 || tileW % 16 || tileH % 16) corrupt(src, "bad tile size");
    checkChunksPresent(t, src, TIFFNumberOfTiles(t));
    const tmsize_t tileSize = TIFFTileSize(t);  // one plane's tile when separate
    const uint64_t tileRowBytes = (static_cast<uint64_t>(tileW) * samples * format.bits + 7) / 8;  // unpacked
    const uint64_t planeBytes = (static_cast<uint64_t>(tileW) * samples * bits + 7) / 8 * tileH / (separate ? samples : 1);
    if (tileSize <= 0 || static_cast<uint64_t>(tileSize) < planeBytes) corrupt(src, "bad tile size");
    // Each tile's rows unpack straight into the image (a tile's first pixel starts a byte: tile
    // widths are multiples of 16); the parts past the right and bottom edges are skipped.
    std::vector<uint8_t> tile(separate ? static_cast<size_t>(tileRowBytes * tileH) : static_cast<size_t>(tileSize));
    std::vector<uint8_t> plane(separate ? static_cast<size_t>(tileSize) : 0);
    for (uint32_t y0 = 0; y0 < height; y0 += tileH) {
      for (uint32_t x0 = 0; x0 < width; x0 += tileW) {
        for (uint32_t b = 0; rawWidePlanes && b < samples; ++b) {
          // PIL's raw decoder on a plane's tile: rows of `tileW` bytes, but of 2 x tileW bytes
          // (the 16-bit row) in a tile that crosses the right edge (TiffImagePlugin's stride).
          const uint64_t offset = TIFFGetStrileOffset(t, TIFFComputeTile(t, x0, y0, 0, static_cast<uint16_t>(b)));
          const uint64_t stride = uint64_t(tileW) * (x0 + tileW > width ? 2 : 1);
          const uint32_t cols = std::min(tileW, width - x0), rows = std::min(tileH, height - y0);
          if (offset > size || (rows - 1) * stride + cols > size - offset) {
            throw Error(code::kTruncated, "TIFF data is truncated: a tile ends past the end of the file");
          }
          for (uint32_t r = 0; r < rows; ++r) {
            for (uint32_t c = 0; c < cols; ++c) tile[(size_t(r) * tileW + c) * samples + b] = data[offset + r * stride + c];
          }
        }
        for (uint32_t b = 0; !rawWidePlanes && b < (separate ? samples : 1u); ++b) {
          if (TIFFReadEncodedTile(t, TIFFComputeTile(t, x0, y0, 0, static_cast<uint16_t>(b)),
                                  separate ? plane.data() : tile.data(), tileSize) < 0) {
            corrupt(src, "cannot decode a tile");
          }
          if (separate) interleavePlane(plane.data(), tile.data(), size_t(tileW) * tileH, b, samples, bits / 8);
        }
        const uint32_t columns = std::min(tileW, width - x0);
        for (uint32_t r = 0; r < tileH && y0 + r < height; ++r) {
          unpackRow(format, tile.data() + r * tileRowBytes, out.row(static_cast<int>(y0 + r)) + size_t(x0) * 3,
                    columns, palette);
        }
      }
    }
  } else {
    uint32_t rowsPerStrip = height;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rowsPerStrip);
    rowsPerStrip = std::min(std::max<uint32_t>(rowsPerStrip, 1), height);
    const uint32_t perPlane = (height + rowsPerStrip - 1) / rowsPerStrip;
    const uint32_t planes = separate ? samples : 1;
    if (TIFFNumberOfStrips(t) < perPlane * planes) corrupt(src, "fewer strips than rows need");
    checkChunksPresent(t, src, perPlane * planes);
    std::vector<uint8_t> strip(static_cast<size_t>(rowBytes * rowsPerStrip));
    // Separate planes (PlanarConfiguration 2): each sample's strip, interleaved as one
    // contiguous strip before unpacking (PIL reads each plane into its band).
    const size_t sampleBytes = bits / 8;
    std::vector<uint8_t> plane(separate ? static_cast<size_t>(width) * sampleBytes * rowsPerStrip : 0);
    for (uint32_t s = 0, y = 0; y < height; ++s, y += rowsPerStrip) {
      const uint32_t rows = std::min(rowsPerStrip, height - y);
      if (!separate) {
        if (TIFFReadEncodedStrip(t, s, strip.data(), static_cast<tmsize_t>(rowBytes * rows)) < 0) {
          corrupt(src, "cannot decode a strip");
        }
      }
      for (uint32_t b = 0; separate && b < samples; ++b) {
        const size_t pixels = static_cast<size_t>(width) * rows;
        if (rawWidePlanes) {  // the plane's first width x rows bytes, from the file
          const uint64_t offset = TIFFGetStrileOffset(t, b * perPlane + s);
          if (offset > size || pixels > size - offset) {
            throw Error(code::kTruncated, "TIFF data is truncated: a plane ends past the end of the file");
          }
          interleavePlane(data + offset, strip.data(), pixels, b, samples, 1);
          continue;
        }
        if (TIFFReadEncodedStrip(t, b * perPlane + s, plane.data(), static_cast<tmsize_t>(pixels * sampleBytes)) < 0) {
          corrupt(src, "cannot decode a strip");
        }
        interleavePlane(plane.data(), strip.data(), pixels, b, samples, sampleBytes);
      }
      for (uint32_t r = 0; r < rows; ++r) {
        unpackRow(format, strip.data() + r * rowBytes, out.row(static_cast<int>(y + r)), width, palette);
      }
    }
  }
  applyOrientation(out, orientation);
  return out;
}

}  // namespace

RgbImage decodeTiff(const uint8_t* data, size_t size, const DecodeOptions& options) {
  // PIL also accepts "MM*\0" and "II\0*" (the version number's bytes swapped), taking the byte
  // order from the first two bytes; libtiff refuses them. It reads a copy with the version put
  // right, and only what PIL itself reads (uncompressed): PIL hands libtiff the original bytes.
  const bool swapped = size >= 4 && ((data[0] == 'M' && data[1] == 'M' && data[2] == '*' && data[3] == 0) ||
                                     (data[0] == 'I' && data[1] == 'I' && data[2] == 0 && data[3] == '*'));
  if (!swapped) return decodeTiffFile(data, size, options, false);
  std::vector<uint8_t> fixed(data, data + size);
  std::swap(fixed[2], fixed[3]);
  return decodeTiffFile(fixed.data(), fixed.size(), options, true);
}

}  // namespace chori::image
