// PNG → RgbImage with libpng 1.6, reproducing what PIL's PngImagePlugin + convert("RGB")
// give (PIL decodes PNG with its own zlib code, so its accept/reject rules are mirrored
// here explicitly).
//
// libpng reports errors through our error callback, which longjmps to the setjmp in
// readHeader() or readPixels(): plain functions holding only C structs and raw pointers.
// The pixel buffer, row pointers and the cleanup guard live in decodePng(), outside.
#include "image/png.h"

#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "chori/error.h"
#include "image/limits.h"
#include "image/orientation.h"
#include "image/png_chunks.h"
#include "image/png_rows.h"

namespace chori::image {

namespace {

// How decoded rows reach RGB: libpng transforms straight to RGB8, or we expand in place.
enum class Layout { Rgb8, Gray16, Palette };

struct PngContext {
  png_structp png;
  png_infop info;
  const uint8_t* data;
  size_t size;
  size_t pos;
  // A file cut inside an IDAT chunk is shown to libpng as that chunk shortened to the bytes
  // present (length field patched, CRC absent): PIL decodes whatever IDAT data it can read.
  size_t patchAt;         // offset of the patched length field, or SIZE_MAX
  uint8_t patchedLength[4];
  bool readPatchedChunk;  // libpng needed the cut chunk (else PIL meets it after the image)
  // Set once the signature-to-first-IDAT header is read: from then on we follow PIL,
  // which skips the CRC of IDAT chunks and ignores everything after the image data.
  bool pixelPhase;
  bool interlaced;
  png_uint_32 height;
  bool truncated;      // the data ended before the image did
  bool imageComplete;  // the data ended, but only after the last row (PIL accepts it)
  bool badWarning;     // a zlib error libpng downgrades to a warning (bad Adler-32)
  char message[256];
};

void setMessage(PngContext* ctx, const char* text) {
  std::snprintf(ctx->message, sizeof ctx->message, "%s", text ? text : "unknown error");
}

bool allRowsRead(png_structp png, const PngContext* ctx);

void onError(png_structp png, png_const_charp text) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  if (ctx->message[0] == '\0') setMessage(ctx, text);
  // Once every row is out PIL's decoder is done: a stream that then ends early, or runs
  // into a non-IDAT chunk, still loads.
  if (ctx->pixelPhase && allRowsRead(png, ctx)) ctx->imageComplete = true;
  png_longjmp(png, 1);
}

void onWarning(png_structp png, png_const_charp text) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  if (!ctx->pixelPhase || text == nullptr) return;
  // PIL ignores surplus data after the last row, but its zlib stream check (Adler-32,
  // corrupt trailer) fails the load: libpng reports both as benign errors once the rows
  // are complete, so tell them apart here.
  if (std::strstr(text, "Extra compressed data") || std::strstr(text, "Too much image data")) {
    return;
  }
  if (!ctx->badWarning) {
    ctx->badWarning = true;
    setMessage(ctx, text);
  }
}

bool allRowsRead(png_structp png, const PngContext* ctx) {
  // libpng advances pass (interlaced) / row_number past the end before it reads the
  // rest of the IDAT stream and its CRC.
  if (ctx->interlaced) return png_get_current_pass_number(png) >= 7;
  return png_get_current_row_number(png) >= ctx->height;
}

void onRead(png_structp png, png_bytep out, png_size_t length) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (length > ctx->size - ctx->pos) {
    if (ctx->pixelPhase && allRowsRead(png, ctx)) {
      ctx->imageComplete = true;  // PIL: a file cut after the image data still loads
    } else {
      ctx->truncated = true;
    }
    png_error(png, "unexpected end of data");
  }
  std::memcpy(out, ctx->data + ctx->pos, length);
  if (ctx->patchAt != SIZE_MAX && ctx->pos + length > ctx->patchAt) ctx->readPatchedChunk = true;
  if (ctx->patchAt != SIZE_MAX && ctx->pos < ctx->patchAt + 4 && ctx->pos + length > ctx->patchAt) {
    for (size_t i = 0; i < 4; ++i) {
      const size_t at = ctx->patchAt + i;
      if (at >= ctx->pos && at < ctx->pos + length) out[at - ctx->pos] = ctx->patchedLength[i];
    }
  }
  ctx->pos += length;
}

// Walks the chunk headers; if the file ends inside an IDAT chunk's data, patch that
// chunk's length to the data present so libpng decodes it, as PIL does.
void patchTruncatedIdat(PngContext* ctx) {
  ctx->patchAt = SIZE_MAX;
  uint64_t pos = 8;
  while (pos + 8 <= ctx->size) {
    const uint8_t* h = ctx->data + pos;
    const uint64_t length = detail::readU32(h);
    const uint64_t end = pos + 12 + length;
    if (end > ctx->size) {
      if (std::memcmp(h + 4, "IDAT", 4) == 0 && pos + 8 + length > ctx->size) {
        const uint64_t present = ctx->size - (pos + 8);
        ctx->patchAt = static_cast<size_t>(pos);
        ctx->patchedLength[0] = static_cast<uint8_t>(present >> 24);
        ctx->patchedLength[1] = static_cast<uint8_t>(present >> 16);
        ctx->patchedLength[2] = static_cast<uint8_t>(present >> 8);
        ctx->patchedLength[3] = static_cast<uint8_t>(present);
      }
      return;
    }
    pos = end;
  }
}

// In-place expansion, right to left, of a row that holds `width` narrower pixels at its
// start: the 3-byte output of pixel x never overlaps the input of a pixel left of x.
void expandGray16(uint8_t* row, png_uint_32 width) {
  for (png_uint_32 i = width; i-- > 0;) {
    const unsigned v = (unsigned(row[2 * i]) << 8) | row[2 * i + 1];
    // Pillow Convert.c I;16 → RGB clips instead of scaling: v >= 255 → 255.
    const uint8_t g = v >= 255 ? 255 : static_cast<uint8_t>(v);
    row[3 * i] = g;
    row[3 * i + 1] = g;
    row[3 * i + 2] = g;
  }
}

void expandPalette(uint8_t* row, png_uint_32 width, const uint8_t* palette) {
  for (png_uint_32 i = width; i-- > 0;) {
    const uint8_t* c = palette + 3 * row[i];
    row[3 * i] = c[0];
    row[3 * i + 1] = c[1];
    row[3 * i + 2] = c[2];
  }
}

void expandRow(Layout layout, uint8_t* row, png_uint_32 width, const uint8_t* palette) {
  if (layout == Layout::Gray16) {
    expandGray16(row, width);
  } else if (layout == Layout::Palette) {
    expandPalette(row, width, palette);
  }
}

// PIL skips chunks it does not know, critical or not; libpng would reject an unknown
// critical chunk unless a user handler claims it.
int onUnknownChunk(png_structp, png_unknown_chunkp) { return 1; }

// setjmp region 1: signature and every chunk up to the first IDAT.
bool readHeader(PngContext* ctx) {
  if (setjmp(png_jmpbuf(ctx->png))) return false;
  // PIL verifies the CRC of every chunk before IDAT, ancillary ones included.
  png_set_crc_action(ctx->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  // Nothing ancillary changes PIL's RGB pixels (no gamma, no ICC, tRNS/alpha dropped).
  png_set_keep_unknown_chunks(ctx->png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_set_read_user_chunk_fn(ctx->png, nullptr, onUnknownChunk);
  // Our own size guard replaces libpng's 1,000,000-pixel default limits.
  png_set_user_limits(ctx->png, 0x7fffffffU, 0x7fffffffU);
  // zlib as PIL runs it: a 32 KiB window whatever the stream header says.
  png_set_option(ctx->png, PNG_MAXIMUM_INFLATE_WINDOW, PNG_OPTION_ON);
  png_read_info(ctx->png, ctx->info);
  return true;
}

// setjmp region 2: transforms, then every row into `rows` (3 * width bytes each).
bool readPixels(PngContext* ctx, Layout layout, png_bytepp rows, const uint8_t* palette,
                png_uint_32* expandedRows) {
  if (setjmp(png_jmpbuf(ctx->png))) return false;
  png_structp png = ctx->png;
  png_infop info = ctx->info;
  const png_uint_32 width = png_get_image_width(png, info);
  const int depth = png_get_bit_depth(png, info);
  const int colorType = png_get_color_type(png, info);

  // PIL PngImagePlugin _MODES + convert("RGB"), per colour type.
  switch (colorType) {
    case PNG_COLOR_TYPE_GRAY:
      // "1" / "L;2" / "L;4" unpack as 0/255, ×0x55, ×0x11: libpng's bit replication.
      if (depth < 16) png_set_gray_to_rgb(png);
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:  // "LA", and "LA;16B" keeps the high byte
    case PNG_COLOR_TYPE_RGB_ALPHA:   // "RGBA", "RGBA;16B": alpha dropped, not composited
      png_set_strip_16(png);
      png_set_strip_alpha(png);
      if (colorType == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
      break;
    case PNG_COLOR_TYPE_RGB:  // "RGB", "RGB;16B" keeps the high byte (strip_16 chops)
      png_set_strip_16(png);
      break;
    case PNG_COLOR_TYPE_PALETTE:  // indices, one per byte, looked up by us
      png_set_packing(png);
      break;
    default:
      break;
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const size_t wantBytes = static_cast<size_t>(width) * (layout == Layout::Rgb8     ? 3
                                                          : layout == Layout::Gray16 ? 2
                                                                                     : 1);
  if (png_get_rowbytes(png, info) != wantBytes) {
    setMessage(ctx, "unexpected row layout after transforms");
    return false;
  }

  ctx->pixelPhase = true;
  // PIL skips IDAT CRCs (load_read only reads past them) and checks no CRC after the image
  // data; we stop after the last row (what PIL reads after it: checkPngChunks).
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
  if (!ctx->interlaced) {
    for (png_uint_32 y = 0; y < ctx->height; ++y) {
      png_read_row(png, rows[y], nullptr);
      expandRow(layout, rows[y], width, palette);
      *expandedRows = y + 1;
    }
  } else {
    png_read_image(png, rows);
  }
  return true;
}

class PngGuard {
 public:
  explicit PngGuard(PngContext* ctx) : ctx_(ctx) {}
  ~PngGuard() {
    if (ctx_->png) png_destroy_read_struct(&ctx_->png, ctx_->info ? &ctx_->info : nullptr, nullptr);
  }
  PngGuard(const PngGuard&) = delete;
  PngGuard& operator=(const PngGuard&) = delete;

 private:
  PngContext* ctx_;
};

// PIL PngImagePlugin: chunk_eXIf sets info["exif"] for every eXIf chunk, those before the
// image data when the file is opened and those after it when it is loaded (exif_transpose
// loads first), so the last complete one before IEND wins. Found by walking the chunk
// headers ourselves: libpng stops reading after the last row and rejects a second eXIf.
// Chunks before IDAT have had their CRC checked by libpng; PIL checks none after it.
std::pair<const uint8_t*, size_t> lastExifChunk(const uint8_t* data, size_t size) {
  std::pair<const uint8_t*, size_t> found{nullptr, 0};
  size_t pos = 8;
  while (size - pos >= 8) {
    const uint8_t* h = data + pos;
    const uint64_t length = detail::readU32(h);
    if (std::memcmp(h + 4, "IEND", 4) == 0 || length > size - pos - 8) break;
    if (std::memcmp(h + 4, "eXIf", 4) == 0) found = {h + 8, static_cast<size_t>(length)};
    if (length + 12 > size - pos) break;
    pos += static_cast<size_t>(length) + 12;
  }
  return found;
}

[[noreturn]] void throwPngError(const PngContext& ctx) {
  if (ctx.truncated) {
    throw Error(code::kTruncated,
                "PNG data is truncated: the file ends before the image is complete "
                "(PIL: image file is truncated)");
  }
  if (std::strstr(ctx.message, "Not enough image data")) {
    throw Error(code::kTruncated,
                "PNG image data is truncated: the compressed stream ends before the last row");
  }
  throw Error(code::kDecode, std::string("PNG data is corrupt: ") + ctx.message);
}

// libpng's way: row by row into `image`, the narrower layouts expanded in place.
void readRows(PngContext* ctx, Layout layout, const uint8_t* palette, RgbImage& image) {
  const png_uint_32 width = static_cast<png_uint_32>(image.width);
  const png_uint_32 height = static_cast<png_uint_32>(image.height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.row(static_cast<int>(y));

  png_uint_32 expandedRows = 0;
  const bool ok = readPixels(ctx, layout, rows.data(), palette, &expandedRows);
  if ((!ok && !ctx->imageComplete) || ctx->badWarning) throwPngError(*ctx);
  // The rows were complete before the IDAT chunk the file cuts: PIL's load_end reads that
  // chunk with _safe_read, which raises (the last IDAT header with no data behind it).
  if (ctx->patchAt != SIZE_MAX && !ctx->readPatchedChunk) {
    throw Error(code::kTruncated,
                "PNG chunk IDAT after the image data is cut short (PIL: Truncated File Read)");
  }
  for (png_uint_32 y = expandedRows; y < height; ++y) expandRow(layout, rows[y], width, palette);
}

}  // namespace

RgbImage decodePng(const uint8_t* data, size_t size, const DecodeOptions& options) {
  detail::checkPngChunks(data, size);
  PngContext ctx;
  std::memset(&ctx, 0, sizeof ctx);
  ctx.data = data;
  ctx.size = size;
  patchTruncatedIdat(&ctx);
  PngGuard guard(&ctx);

  ctx.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, onError, onWarning);
  if (ctx.png == nullptr) throw Error(code::kDecode, "cannot initialise libpng");
  ctx.info = png_create_info_struct(ctx.png);
  if (ctx.info == nullptr) throw Error(code::kDecode, "cannot initialise libpng");
  png_set_read_fn(ctx.png, &ctx, onRead);

  if (!readHeader(&ctx)) throwPngError(ctx);

  const png_uint_32 width = png_get_image_width(ctx.png, ctx.info);
  const png_uint_32 height = png_get_image_height(ctx.png, ctx.info);
  detail::checkImageSize(width, height, options, "PNG");
  ctx.height = height;
  ctx.interlaced = png_get_interlace_type(ctx.png, ctx.info) != PNG_INTERLACE_NONE;

  const int colorType = png_get_color_type(ctx.png, ctx.info);
  const int depth = png_get_bit_depth(ctx.png, ctx.info);
  Layout layout = Layout::Rgb8;
  if (colorType == PNG_COLOR_TYPE_GRAY && depth == 16) layout = Layout::Gray16;
  if (colorType == PNG_COLOR_TYPE_PALETTE) layout = Layout::Palette;

  // PIL's palette: PLTE entries, then black for indices past its end (libpng agrees).
  uint8_t palette[256 * 3] = {};
  if (layout == Layout::Palette) {
    png_colorp entries = nullptr;
    int count = 0;
    if (png_get_PLTE(ctx.png, ctx.info, &entries, &count) == 0 || entries == nullptr) {
      throw Error(code::kDecode, "PNG data is corrupt: palette image without a PLTE chunk");
    }
    for (int i = 0; i < count && i < 256; ++i) {
      palette[3 * i] = entries[i].red;
      palette[3 * i + 1] = entries[i].green;
      palette[3 * i + 2] = entries[i].blue;
    }
  }

  RgbImage image(static_cast<int>(width), static_cast<int>(height));
  // A small, clean, non-interlaced 8-bit image is read in one go (png_rows.h); libpng reads
  // the rest, and any image that path declines. libpng has read up to the first IDAT's header.
  const bool whole = !ctx.interlaced && depth == 8 && ctx.patchAt == SIZE_MAX && ctx.pos >= 8 &&
                     detail::readWholeStreamRows(data, size, ctx.pos - 8, colorType, palette, image);
  if (!whole) readRows(&ctx, layout, palette, image);
  if (options.applyExifOrientation) {
    const auto [exif, exifSize] = lastExifChunk(data, size);
    applyOrientation(image, exifOrientation(exif, exifSize));
  }
  return image;
}

}  // namespace chori::image
