// AVIF → RgbImage: libavif's decoder set up as Pillow's _avif.c sets it (clap and pixi checks
// relaxed, the first frame), then avifImageYUVToRGB to 8-bit RGB or RGBA.
#include "image/avif.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include <avif/avif.h>

#include "chori/error.h"
#include "image/orientation.h"
#include "image/strict_fp.h"

namespace chori::image {

namespace {

struct DecoderDeleter {
  void operator()(avifDecoder* d) const { avifDecoderDestroy(d); }
};
struct ImageDeleter {
  void operator()(avifImage* i) const { avifImageDestroy(i); }
};
// libavif's RGBA buffer, freed with the decode (avifRGBImageFreePixels ignores a null one).
struct RgbaPixels {
  avifRGBImage rgb{};
  ~RgbaPixels() { avifRGBImageFreePixels(&rgb); }
};

[[noreturn]] void fail(avifResult result, const char* stage) {
  const std::string what = std::string("AVIF ") + stage + " failed: " + avifResultToString(result);
  switch (result) {
    case AVIF_RESULT_TRUNCATED_DATA:
    case AVIF_RESULT_IO_ERROR:
      throw Error(code::kTruncated, what + " (the file ends before the image does)");
    case AVIF_RESULT_OUT_OF_MEMORY:
      throw Error(code::kImageTooLarge, what);
    default:
      throw Error(code::kDecode, what);
  }
}

// Pillow 13's AvifImageFile: the irot/imir properties become the EXIF orientation it reports
// (replacing the Exif item's own, even by 1), which exif_transpose then applies; libavif
// leaves the pixels untransformed. The table is libavif's (checked against Pillow 13 on
// avifenc's every irot/imir combination).
int orientationFromTransforms(const avifImage* image) {
  static constexpr int kRotation[4] = {1, 8, 3, 6}, kMirrorAxis0[4] = {4, 5, 2, 7}, kMirrorAxis1[4] = {2, 7, 4, 5};
  const int angle = (image->transformFlags & AVIF_TRANSFORM_IROT) ? image->irot.angle & 3 : 0;
  if (!(image->transformFlags & AVIF_TRANSFORM_IMIR)) return kRotation[angle];
#if AVIF_VERSION_MAJOR >= 1
  const int axis = image->imir.axis;
#else
  const int axis = image->imir.mode;
#endif
  return axis == 0 ? kMirrorAxis0[angle] : kMirrorAxis1[angle];
}

// Pillow 13's libavif 1.4 turns 10- and 12-bit colour (4:2:0, 4:2:2, 4:4:4, no alpha) into
// 8-bit RGB by first dropping the low bits of every plane (truncated: libyuv's
// Convert16To8Plane), then converting as 8-bit YUV; so do we, with Debian's libavif's 8-bit
// conversion of the narrowed planes (bit-identical to Pillow's on 8-bit files). Debian's own
// high-depth conversion differs by up to 3 levels.
std::unique_ptr<avifImage, ImageDeleter> downshiftTo8(const avifImage* image) {
  std::unique_ptr<avifImage, ImageDeleter> out(avifImageCreate(image->width, image->height, 8, image->yuvFormat));
  if (!out) throw Error(code::kImageTooLarge, "not enough memory to narrow the AVIF image to 8 bits");
  out->yuvRange = image->yuvRange;
  out->yuvChromaSamplePosition = image->yuvChromaSamplePosition;
  out->colorPrimaries = image->colorPrimaries;
  out->transferCharacteristics = image->transferCharacteristics;
  out->matrixCoefficients = image->matrixCoefficients;
  const avifResult r = avifImageAllocatePlanes(out.get(), AVIF_PLANES_YUV);
  if (r != AVIF_RESULT_OK) fail(r, "narrowing to 8 bits");
  avifPixelFormatInfo info;
  avifGetPixelFormatInfo(image->yuvFormat, &info);
  const uint32_t shift = image->depth - 8;
  auto narrow = [&](const uint8_t* src, uint32_t srcRowBytes, uint8_t* dst, uint32_t dstRowBytes, uint32_t w, uint32_t h) {
    for (uint32_t y = 0; y < h; ++y) {
      const uint8_t* in = src + static_cast<size_t>(y) * srcRowBytes;
      uint8_t* o = dst + static_cast<size_t>(y) * dstRowBytes;
      for (uint32_t x = 0; x < w; ++x) {
        uint16_t v;
        std::memcpy(&v, in + 2 * static_cast<size_t>(x), 2);
        o[x] = static_cast<uint8_t>(std::min<uint32_t>(v >> shift, 255));
      }
    }
  };
  for (int p = 0; p < AVIF_PLANE_COUNT_YUV; ++p) {
    if (!image->yuvPlanes[p] || !out->yuvPlanes[p]) continue;  // 4:0:0 has no chroma
    const uint32_t w = p == 0 ? image->width : (image->width + info.chromaShiftX) >> info.chromaShiftX;
    const uint32_t h = p == 0 ? image->height : (image->height + info.chromaShiftY) >> info.chromaShiftY;
    narrow(image->yuvPlanes[p], image->yuvRowBytes[p], out->yuvPlanes[p], out->yuvRowBytes[p], w, h);
  }
  return out;
}

// 10/12-bit 4:0:0 without alpha: libavif 1.4's floating-point path, as Pillow 13 takes it
// (equal on 10- and 12-bit, full and limited range): Y's unorm value in float,
// (Y - bias) / range, clamped to 0..1, times 255, rounded by floorf(v + 0.5f).
RgbImage greyFromHighDepth(const avifImage* image) {
  const uint32_t shift = image->depth - 8;
  const bool limited = image->yuvRange == AVIF_RANGE_LIMITED;
  const float bias = limited ? static_cast<float>(16u << shift) : 0.0f;
  const float range = static_cast<float>(limited ? 219u << shift : (1u << image->depth) - 1);
  RgbImage out(static_cast<int>(image->width), static_cast<int>(image->height));
  for (uint32_t y = 0; y < image->height; ++y) {
    const uint8_t* in = image->yuvPlanes[AVIF_CHAN_Y] + static_cast<size_t>(y) * image->yuvRowBytes[AVIF_CHAN_Y];
    uint8_t* o = out.row(static_cast<int>(y));
    for (uint32_t x = 0; x < image->width; ++x, o += 3) {
      uint16_t v;
      std::memcpy(&v, in + 2 * static_cast<size_t>(x), 2);
      const float unorm = std::clamp((static_cast<float>(v) - bias) / range, 0.0f, 1.0f);
      o[0] = o[1] = o[2] = static_cast<uint8_t>(std::floor(unorm * 255.0f + 0.5f));
    }
  }
  return out;
}

// 10-bit colour with alpha: libavif 1.4 hands it to libyuv's I410/I210/I010AlphaToARGBMatrix
// (the "Filter" forms for subsampled chroma), which Debian's 0.11.1 has no path to. For BT.601
// full range (libyuv's JPEG constants) we compute what they do: chroma upsampled 2x at 10 bits
// by libyuv's bilinear filter (3:1 a side, 9:3:3:1 in both directions, rounded; the first and
// last sample of a row or column copied), then YuvPixel10: Y widened to 16 bits, U and V narrowed to 8, 6-bit fixed
// point (equal to Pillow 13 on 4:2:0, 4:2:2 and 4:4:4 files). Alpha plays no part in R, G, B.
bool tenBitAlphaReproduced(const avifImage* image) {
  return image->depth == 10 && image->alphaPlane && image->yuvRange == AVIF_RANGE_FULL &&
         (image->matrixCoefficients == AVIF_MATRIX_COEFFICIENTS_BT601 ||
          image->matrixCoefficients == AVIF_MATRIX_COEFFICIENTS_BT470BG) &&
         image->yuvFormat != AVIF_PIXEL_FORMAT_YUV400;
}

RgbImage tenBitWithAlpha(const avifImage* image) {
  avifPixelFormatInfo info;
  avifGetPixelFormatInfo(image->yuvFormat, &info);
  const uint32_t w = image->width, h = image->height;
  const uint32_t cw = (w + info.chromaShiftX) >> info.chromaShiftX, ch = (h + info.chromaShiftY) >> info.chromaShiftY;
  auto sample = [](const avifImage* im, int plane, uint32_t x, uint32_t y) {
    uint16_t v;
    std::memcpy(&v, im->yuvPlanes[plane] + static_cast<size_t>(y) * im->yuvRowBytes[plane] + 2 * static_cast<size_t>(x), 2);
    return static_cast<int>(v);
  };
  // The chroma sample under output (x, y), libyuv's ScaleRowUp2 bilinear where subsampled.
  auto chroma = [&](int plane, uint32_t x, uint32_t y) {
    const uint32_t cx = x >> info.chromaShiftX, cy = y >> info.chromaShiftY;
    // libyuv copies the first and last output samples of a row (and rows) unfiltered.
    const uint32_t nx = x == w - 1 ? cx : (x & 1 ? std::min(cx + 1, cw - 1) : (cx ? cx - 1 : 0));
    const uint32_t ny = y & 1 ? std::min(cy + 1, ch - 1) : (cy ? cy - 1 : 0);
    if (!info.chromaShiftX) return sample(image, plane, cx, cy);
    if (!info.chromaShiftY) return (3 * sample(image, plane, cx, cy) + sample(image, plane, nx, cy) + 2) >> 2;
    return (9 * sample(image, plane, cx, cy) + 3 * sample(image, plane, nx, cy) + 3 * sample(image, plane, cx, ny) +
            sample(image, plane, nx, ny) + 8) >> 4;
  };
  // libyuv kYuvJPEGConstants: UB 113, UG 22, VG 46, VR 90, YG 16320, YB 32.
  auto clamp255 = [](int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); };
  RgbImage out(static_cast<int>(w), static_cast<int>(h));
  for (uint32_t y = 0; y < h; ++y) {
    uint8_t* o = out.row(static_cast<int>(y));
    for (uint32_t x = 0; x < w; ++x, o += 3) {
      const uint32_t luma = static_cast<uint32_t>(sample(image, AVIF_CHAN_Y, x, y));
      const int y1 = static_cast<int>((((luma << 6) | (luma >> 4)) * 16320u) >> 16);
      const int u = std::min(chroma(AVIF_CHAN_U, x, y) >> 2, 255) - 128;
      const int v = std::min(chroma(AVIF_CHAN_V, x, y) >> 2, 255) - 128;
      o[0] = clamp255((y1 + v * 90 + 32) >> 6);
      o[1] = clamp255((y1 - u * 22 - v * 46 + 32) >> 6);
      o[2] = clamp255((y1 + u * 113 + 32) >> 6);
    }
  }
  return out;
}

}  // namespace

RgbImage decodeAvif(const uint8_t* data, size_t size, const DecodeOptions& options) {
  std::unique_ptr<avifDecoder, DecoderDeleter> decoder(avifDecoderCreate());
  if (!decoder) throw Error(code::kImageTooLarge, "not enough memory to create an AVIF decoder");
  // Pillow _avif.c: one thread per core (we decode on the caller's thread: one), and the two
  // strict checks it turns off for files real writers produce.
  decoder->maxThreads = 1;
  decoder->strictFlags &= ~(AVIF_STRICT_CLAP_VALID | AVIF_STRICT_PIXI_REQUIRED);
  avifResult r = avifDecoderSetIOMemory(decoder.get(), data, size);
  if (r != AVIF_RESULT_OK) fail(r, "reading");
  r = avifDecoderParse(decoder.get());
  if (r != AVIF_RESULT_OK) fail(r, "parsing");
  const avifImage* image = decoder->image;
  // PIL: Image.open's bomb check on the size the container declares.
  detail::checkImageSize(image->width, image->height, options, "AVIF");
  r = avifDecoderNextImage(decoder.get());
  if (r != AVIF_RESULT_OK) fail(r, "decoding");
  image = decoder->image;
  detail::checkImageSize(image->width, image->height, options, "AVIF");
  const int orientation = orientationFromTransforms(image);
  std::unique_ptr<avifImage, ImageDeleter> narrowed;
  if (image->depth > 8) {
    if (tenBitAlphaReproduced(image)) {
      RgbImage out = tenBitWithAlpha(image);
      if (options.applyExifOrientation) applyOrientation(out, orientation);
      return out;
    }
    // Other 10-bit colour with alpha (another matrix or range: libyuv's other constants) and
    // 12-bit with alpha (narrowed with it, as far as one file shows): not reproduced.
    if (image->alphaPlane) {
      throw Error(code::kUnsupportedFormat,
                  "AVIF with " + std::to_string(image->depth) + "-bit samples and alpha is not supported: libavif " +
                      avifVersion() + " cannot convert it to 8-bit RGB as Pillow's libavif 1.4 does");
    }
    if (image->yuvFormat == AVIF_PIXEL_FORMAT_YUV400) {
      RgbImage out = greyFromHighDepth(image);
      if (options.applyExifOrientation) applyOrientation(out, orientation);
      return out;
    }
    narrowed = downshiftTo8(image);
    image = narrowed.get();
    decoder.reset();  // dav1d's 16-bit frames go before the RGB image comes

  }

  // Pillow _avif.c _decoder_get_frame: 8-bit, RGBA when the image has alpha, else RGB. RGB is
  // written straight into our image; RGBA goes through libavif's buffer, alpha then dropped.
  RgbImage out(static_cast<int>(image->width), static_cast<int>(image->height));
  const bool alpha = image->alphaPlane != nullptr;
  RgbaPixels rgba;
  avifRGBImage& rgb = rgba.rgb;
  avifRGBImageSetDefaults(&rgb, image);
  rgb.depth = 8;
  if (alpha) {
    rgb.format = AVIF_RGB_FORMAT_RGBA;
    avifRGBImageAllocatePixels(&rgb);
    if (rgb.pixels == nullptr) throw Error(code::kImageTooLarge, "not enough memory to decode the AVIF image");
  } else {
    rgb.format = AVIF_RGB_FORMAT_RGB;
    rgb.pixels = out.pixels.data();
    rgb.rowBytes = image->width * 3;
  }
  r = avifImageYUVToRGB(image, &rgb);
  if (!alpha) rgb.pixels = nullptr;  // ours, not libavif's to free
  if (r != AVIF_RESULT_OK) fail(r, "colour conversion");
  if (alpha) {
    for (uint32_t y = 0; y < image->height; ++y) {
      const uint8_t* in = rgb.pixels + static_cast<size_t>(y) * rgb.rowBytes;
      uint8_t* o = out.row(static_cast<int>(y));
      for (uint32_t x = 0; x < image->width; ++x, in += 4, o += 3) {
        o[0] = in[0];
        o[1] = in[1];
        o[2] = in[2];
      }
    }
  }
  if (options.applyExifOrientation) applyOrientation(out, orientation);
  return out;
}

}  // namespace chori::image
