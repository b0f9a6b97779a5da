// WebP → RgbImage with libwebp's animation decoder, the API PIL's WebPImagePlugin reads every
// WebP through (still images included): the first frame as non-premultiplied RGBA, whose
// alpha convert("RGB") then drops.
#include "image/webp.h"

#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>
#include <string>

#include "chori/error.h"
#include "image/limits.h"
#include "image/orientation.h"

namespace chori::image {

namespace {

// The RIFF header's size says how long the file should be: shorter data was cut.
bool riffTruncated(const uint8_t* data, size_t size) {
  if (size < 12) return true;
  const uint64_t riff = data[4] | (data[5] << 8) | (data[6] << 16) | (uint64_t(data[7]) << 24);
  return size < riff + 8;
}

[[noreturn]] void fail(const uint8_t* data, size_t size, const char* what) {
  if (riffTruncated(data, size)) {
    throw Error(code::kTruncated, std::string("WebP data is truncated: ") + what +
                                      " (the file is shorter than its RIFF header says)");
  }
  throw Error(code::kDecode, std::string("WebP data is corrupt: ") + what);
}

struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

}  // namespace

RgbImage decodeWebp(const uint8_t* data, size_t size, const DecodeOptions& options) {
  // The size guard runs on the bitstream header, before libwebp allocates its canvas.
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK) fail(data, size, "cannot read the header");
  detail::checkImageSize(static_cast<uint64_t>(features.width), static_cast<uint64_t>(features.height),
                         options, "WebP");

  WebPAnimDecoderOptions decoderOptions;
  if (!WebPAnimDecoderOptionsInit(&decoderOptions)) throw Error(code::kDecode, "cannot initialise libwebp");
  decoderOptions.color_mode = MODE_RGBA;
  decoderOptions.use_threads = 0;
  WebPData webp{data, size};
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(WebPAnimDecoderNew(&webp, &decoderOptions));
  if (!decoder) fail(data, size, "libwebp cannot parse it (PIL: could not create decoder object)");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info)) fail(data, size, "cannot read the canvas");
  detail::checkImageSize(info.canvas_width, info.canvas_height, options, "WebP");

  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp) || rgba == nullptr) {
    fail(data, size, "the first frame does not decode (PIL: failed to read next frame)");
  }
  RgbImage image(static_cast<int>(info.canvas_width), static_cast<int>(info.canvas_height));
  const size_t pixels = size_t(info.canvas_width) * info.canvas_height;
  uint8_t* out = image.pixels.data();
  for (size_t i = 0; i < pixels; ++i) std::memcpy(out + 3 * i, rgba + 4 * i, 3);
  if (options.applyExifOrientation) {
    // PIL WebPImagePlugin: info["exif"] is the first "EXIF" chunk, through the same demuxer.
    WebPChunkIterator chunk;
    int orientation = 1;
    if (WebPDemuxGetChunk(WebPAnimDecoderGetDemuxer(decoder.get()), "EXIF", 1, &chunk)) {
      orientation = exifOrientation(chunk.chunk.bytes, chunk.chunk.size);
      WebPDemuxReleaseChunkIterator(&chunk);
    }
    applyOrientation(image, orientation);
  }
  return image;
}

}  // namespace chori::image
