// JPEG → RgbImage with libjpeg-turbo, reproducing PIL's JpegImagePlugin + JpegDecode.c
// (default settings: ISLOW IDCT, fancy upsampling) followed by convert("RGB").
//
// libjpeg reports errors by calling error_exit, which must not return: we longjmp out of
// it. The setjmp/longjmp region is kept to the two plain functions readHeader() and
// readPixels(), which hold nothing but C structs and raw pointers; every C++ object
// (the pixel buffer, the cleanup guard) lives in decodeJpeg(), outside that region.
#include "image/jpeg.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "chori/error.h"
#include "image/cmyk.h"
#include "image/limits.h"
#include "image/orientation.h"
#include "image/versions.h"

namespace chori::image {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands us a jpeg_error_mgr*
  std::jmp_buf jump;
  int msgCode;
  bool truncated;
  char message[JMSG_LENGTH_MAX];
};

struct Source {
  jpeg_source_mgr pub;  // first member: libjpeg hands us a jpeg_source_mgr*
  // PIL's decoder suspends when it needs bytes past the end of the file; that is fatal
  // ("image file is truncated") until every scanline is out, and harmless afterwards
  // (a missing EOI): JpegDecode.c only checks state->y < state->ysize.
  bool scanlinesDone;
};

// Everything libjpeg needs, with no C++ members: safe to longjmp over.
struct JpegContext {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  Source src;
  bool created;
};

void onErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  err->msgCode = err->pub.msg_code;
  (*err->pub.format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (corrupt data, extraneous bytes, …) are tolerated silently, as PIL does.
void onOutputMessage(j_common_ptr) {}

void onInitSource(j_decompress_ptr) {}
void onTermSource(j_decompress_ptr) {}

boolean onFillInput(j_decompress_ptr cinfo) {
  auto* src = reinterpret_cast<Source*>(cinfo->src);
  if (!src->scanlinesDone) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    err->truncated = true;
    std::longjmp(err->jump, 1);
  }
  // After the last scanline: behave like a file that ends with EOI.
  static const JOCTET kEoi[2] = {0xFF, JPEG_EOI};
  src->pub.next_input_byte = kEoi;
  src->pub.bytes_in_buffer = sizeof kEoi;
  return TRUE;
}

void onSkipInput(j_decompress_ptr cinfo, long count) {
  auto* src = reinterpret_cast<Source*>(cinfo->src);
  if (count <= 0) return;
  if (static_cast<size_t>(count) > src->pub.bytes_in_buffer) {
    src->pub.next_input_byte += src->pub.bytes_in_buffer;
    src->pub.bytes_in_buffer = 0;
    onFillInput(cinfo);
    return;
  }
  src->pub.next_input_byte += count;
  src->pub.bytes_in_buffer -= static_cast<size_t>(count);
}

void cmykRowToRgb(const uint8_t* in, uint8_t* out, int width) {
  for (int x = 0; x < width; ++x, in += 4, out += 3) {
    // Unpack.c "CMYK;I": Adobe JPEGs store every byte inverted.
    cmykToRgb(255 - in[0], 255 - in[1], 255 - in[2], 255 - in[3], out);
  }
}

// setjmp region 1: create the decompressor and read the header, keeping the APP1 markers
// when `saveApp1` (for EXIF). Returns false on error.
bool readHeader(JpegContext* ctx, const uint8_t* data, size_t size, bool saveApp1) {
  if (setjmp(ctx->err.jump)) return false;
  ctx->created = true;
  jpeg_create_decompress(&ctx->cinfo);
  if (saveApp1) jpeg_save_markers(&ctx->cinfo, JPEG_APP0 + 1, 0xFFFF);
  ctx->src.pub.next_input_byte = data;
  ctx->src.pub.bytes_in_buffer = size;
  ctx->src.pub.init_source = onInitSource;
  ctx->src.pub.fill_input_buffer = onFillInput;
  ctx->src.pub.skip_input_data = onSkipInput;
  ctx->src.pub.resync_to_restart = jpeg_resync_to_restart;
  ctx->src.pub.term_source = onTermSource;
  ctx->cinfo.src = &ctx->src.pub;
  jpeg_read_header(&ctx->cinfo, TRUE);
  return true;
}

// setjmp region 2: decode every scanline straight into `pixels` (RGB rows of `stride`
// bytes), or through `cmykRow` for 4-component images. Returns false on error.
bool readPixels(JpegContext* ctx, uint8_t* pixels, size_t stride, uint8_t* cmykRow) {
  if (setjmp(ctx->err.jump)) return false;
  jpeg_decompress_struct* cinfo = &ctx->cinfo;
  jpeg_start_decompress(cinfo);
  const JDIMENSION width = cinfo->output_width;
  const JDIMENSION height = cinfo->output_height;
  const int channels = cmykRow == nullptr ? 3 : 4;
  if (width != cinfo->image_width || height != cinfo->image_height ||
      cinfo->output_components != channels) {
    std::snprintf(ctx->err.message, sizeof ctx->err.message,
                  "unexpected decoder output layout (%u x %u x %d)", width, height,
                  cinfo->output_components);
    return false;
  }
  while (cinfo->output_scanline < height) {
    const JDIMENSION y = cinfo->output_scanline;
    JDIMENSION got;
    if (cmykRow == nullptr) {
      JSAMPROW rows[16];
      JDIMENSION want = height - y;
      if (want > 16) want = 16;
      for (JDIMENSION i = 0; i < want; ++i) rows[i] = pixels + (y + i) * stride;
      got = jpeg_read_scanlines(cinfo, rows, want);
    } else {
      JSAMPROW row = cmykRow;
      got = jpeg_read_scanlines(cinfo, &row, 1);
      if (got == 1) cmykRowToRgb(cmykRow, pixels + y * stride, static_cast<int>(width));
    }
    if (got == 0) {  // cannot happen with a non-suspending source; never loop forever
      ctx->err.truncated = true;
      return false;
    }
  }
  ctx->src.scanlinesDone = true;
  jpeg_finish_decompress(cinfo);  // PIL calls it too: errors after the scan still count
  return true;
}

// PIL JpegImagePlugin.APP: every APP1 segment that starts with "Exif\0\0" before the scan,
// the first whole and the later ones without that prefix appended (multi-segment EXIF).
std::vector<uint8_t> exifFromMarkers(const jpeg_decompress_struct& cinfo) {
  std::vector<uint8_t> exif;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 || std::memcmp(m->data, "Exif\0\0", 6) != 0) {
      continue;
    }
    exif.insert(exif.end(), m->data + (exif.empty() ? 0 : 6), m->data + m->data_length);
  }
  return exif;
}

[[noreturn]] void throwJpegError(const JpegContext& ctx) {
  if (ctx.err.truncated) {
    throw Error(code::kTruncated,
                "JPEG data is truncated: the file ends before the image is complete "
                "(PIL: image file is truncated)");
  }
  const std::string detail = ctx.err.message;
  switch (ctx.err.msgCode) {
    case JERR_BAD_PRECISION:
      // Pillow 13's JpegImagePlugin refuses other than 8-bit samples itself ("cannot identify").
      throw Error(code::kUnsupportedFormat,
                  "JPEG with other than 8-bit samples (12-bit) is not supported (nor opened by Pillow): " + detail);
    // libjpeg-turbo 3 (Pillow 13's) decodes lossless JPEG; Debian 12's 2.1 cannot, so it is
    // refused by name rather than decoded differently.
    case JERR_SOF_UNSUPPORTED:
      throw Error(code::kUnsupportedFormat,
                  "lossless (or hierarchical) JPEG is not supported by libjpeg-turbo " + libjpegTurboVersion() +
                      " (Pillow 13 bundles 3.x, which decodes lossless JPEG): " + detail);
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW:
    case JERR_OUT_OF_MEMORY:
      throw Error(code::kImageTooLarge, "JPEG image is too large: " + detail);
    default:
      throw Error(code::kDecode, "JPEG data is corrupt: " + detail);
  }
}

class ContextGuard {
 public:
  explicit ContextGuard(JpegContext* ctx) : ctx_(ctx) {}
  ~ContextGuard() {
    if (ctx_->created) jpeg_destroy_decompress(&ctx_->cinfo);
  }
  ContextGuard(const ContextGuard&) = delete;
  ContextGuard& operator=(const ContextGuard&) = delete;

 private:
  JpegContext* ctx_;
};

}  // namespace

RgbImage decodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options) {
  JpegContext ctx;
  std::memset(&ctx, 0, sizeof ctx);
  ctx.cinfo.err = jpeg_std_error(&ctx.err.pub);
  ctx.err.pub.error_exit = onErrorExit;
  ctx.err.pub.output_message = onOutputMessage;
  ContextGuard guard(&ctx);

  if (!readHeader(&ctx, data, size, options.applyExifOrientation)) throwJpegError(ctx);

  jpeg_decompress_struct& cinfo = ctx.cinfo;
  // PIL JpegImagePlugin SOF: 1 layer → "L", 3 → "RGB", 4 → "CMYK" (rawmode "CMYK;I"),
  // anything else → "cannot handle N-layer images".
  const int components = cinfo.num_components;
  if (components != 1 && components != 3 && components != 4) {
    throw Error(code::kUnsupportedFormat,
                "JPEG with " + std::to_string(components) + " colour components is not supported");
  }
  detail::checkImageSize(cinfo.image_width, cinfo.image_height, options, "JPEG");

  // Greyscale → RGB inside libjpeg replicates the sample, exactly PIL's L → RGB.
  const bool cmyk = components == 4;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = 1;

  // Copied now: jpeg_finish_decompress frees the saved markers with the image pool.
  const std::vector<uint8_t> exif = options.applyExifOrientation ? exifFromMarkers(cinfo) : std::vector<uint8_t>{};
  RgbImage image(static_cast<int>(cinfo.image_width), static_cast<int>(cinfo.image_height));
  std::vector<uint8_t> cmykRow(cmyk ? static_cast<size_t>(cinfo.image_width) * 4 : 0);
  if (!readPixels(&ctx, image.pixels.data(), static_cast<size_t>(image.width) * 3,
                  cmyk ? cmykRow.data() : nullptr)) {
    throwJpegError(ctx);
  }
  if (options.applyExifOrientation) applyOrientation(image, exifOrientation(exif.data(), exif.size()));
  return image;
}

}  // namespace chori::image
