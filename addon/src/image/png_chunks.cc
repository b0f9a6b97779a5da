#include "image/png_chunks.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>

#include "chori/error.h"

namespace chori::image::detail {

namespace {

// PngImagePlugin: MAX_TEXT_CHUNK = ImageFile.SAFEBLOCK, MAX_TEXT_MEMORY = 64 * MAX_TEXT_CHUNK.
constexpr size_t kMaxTextChunk = 1024 * 1024;
constexpr size_t kMaxTextMemory = 64 * kMaxTextChunk;

struct Bytes {
  const uint8_t* data;
  size_t size;
};

bool isType(const uint8_t* type, const char* name) { return std::memcmp(type, name, 4) == 0; }

// ChunkStream.read: a chunk type is four ASCII letters (is_cid), or the walk stops.
bool isChunkType(const uint8_t* type) {
  for (int i = 0; i < 4; ++i) {
    const uint8_t c = type[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

// bytes.split(b"\0", 1): the part before the first NUL and the rest, or nothing found.
bool splitAtNul(Bytes in, Bytes* head, Bytes* tail) {
  const void* nul = std::memchr(in.data, 0, in.size);
  if (nul == nullptr) return false;
  const size_t at = static_cast<const uint8_t*>(nul) - in.data;
  *head = {in.data, at};
  *tail = {in.data + at + 1, in.size - at - 1};
  return true;
}

enum class Inflated { Ok, TooLarge, ZlibError };

// _safe_zlib_decompress: zlib.decompressobj().decompress(s, MAX_TEXT_CHUNK) is too large when
// the output limit is reached with input left over (unconsumed_tail); zlib errors are the
// caller's to ignore, as PIL ignores them. `*produced` is the length of the text obtained.
Inflated inflateText(Bytes in, size_t* produced) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw Error(code::kInternal, "cannot initialise zlib");
  std::array<uint8_t, 64 * 1024> out;
  zs.next_in = const_cast<Bytef*>(in.data);
  zs.avail_in = static_cast<uInt>(in.size);
  *produced = 0;
  Inflated result = Inflated::Ok;
  while (*produced < kMaxTextChunk) {
    const size_t room = std::min(out.size(), kMaxTextChunk - *produced);
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(room);
    const int ret = inflate(&zs, Z_NO_FLUSH);
    *produced += room - zs.avail_out;
    if (ret == Z_STREAM_END) break;
    if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR) {
      result = Inflated::ZlibError;
      break;
    }
    if (ret == Z_BUF_ERROR || (zs.avail_in == 0 && zs.avail_out > 0)) break;  // input used up
  }
  if (result == Inflated::Ok && *produced == kMaxTextChunk && zs.avail_in > 0) {
    // Output full, input left: unconsumed_tail, unless the stream ends right here.
    zs.next_out = out.data();
    zs.avail_out = 1;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    if (!(ret == Z_STREAM_END && zs.avail_out == 1)) result = Inflated::TooLarge;
  }
  inflateEnd(&zs);
  return result;
}

[[noreturn]] void tooLarge(const char* type) {
  throw Error(code::kDecode, std::string("PNG ") + type +
                                 " chunk inflates to more than 1 MiB of text (PIL refuses it: "
                                 "PngImagePlugin.MAX_TEXT_CHUNK, a decompression-bomb guard)");
}

// The length PIL adds to text_memory for one chunk (chunk_tEXt, chunk_zTXt, chunk_iTXt), or
// a throw where PIL raises.
size_t textLength(const uint8_t* type, Bytes s) {
  Bytes key{}, value{};
  if (isType(type, "tEXt")) {
    if (!splitAtNul(s, &key, &value)) key = s, value = {s.data, 0};
    return key.size > 0 ? value.size : 0;  // latin-1: one character per byte
  }
  if (isType(type, "zTXt")) {
    if (!splitAtNul(s, &key, &value)) key = s, value = {s.data, 0};
    const int method = value.size > 0 ? value.data[0] : 0;
    if (method != 0) {
      throw Error(code::kDecode, "PNG zTXt chunk has unknown compression method " +
                                     std::to_string(method) + " (PIL refuses it)");
    }
    size_t produced = 0;
    const Bytes compressed = value.size > 0 ? Bytes{value.data + 1, value.size - 1} : value;
    const Inflated r = inflateText(compressed, &produced);
    if (r == Inflated::TooLarge) tooLarge("zTXt");
    if (r == Inflated::ZlibError) produced = 0;  // PIL: v = b""
    return key.size > 0 ? produced : 0;
  }
  // iTXt: keyword \0 flag method language \0 translated keyword \0 text.
  Bytes rest{}, lang{}, tail{}, translated{}, text{};
  if (!splitAtNul(s, &key, &rest) || rest.size < 2) return 0;
  const uint8_t flag = rest.data[0], method = rest.data[1];
  const Bytes fields{rest.data + 2, rest.size - 2};
  if (!splitAtNul(fields, &lang, &tail) || !splitAtNul(tail, &translated, &text)) return 0;
  if (flag == 0) {
    // Counted in characters of the UTF-8 text (PIL skips the chunk if it is not UTF-8;
    // continuation bytes are not characters).
    size_t chars = 0;
    for (size_t i = 0; i < text.size; ++i) chars += (text.data[i] & 0xC0) != 0x80;
    return chars;
  }
  if (method != 0) return 0;
  size_t produced = 0;
  const Inflated r = inflateText(text, &produced);
  if (r == Inflated::TooLarge) tooLarge("iTXt");
  return r == Inflated::Ok ? produced : 0;  // bytes of UTF-8: at least the characters
}

[[noreturn]] void apngError(const char* what) {
  throw Error(code::kDecode, std::string("APNG contains ") + what + " (PIL refuses it)");
}

// Sequence numbers run 0, 1, 2... from the first fcTL: chunk_fcTL accepts 0 when none came
// before (`_seq_num is None and seq != 0` is its error), chunk_fdAT nothing (`None != seq - 1`).
void checkSequence(std::optional<uint64_t>* last, uint64_t seq, bool firstMayStart) {
  const bool ok = last->has_value() ? **last + 1 == seq : firstMayStart && seq == 0;
  if (!ok) apngError("frame sequence errors");
  *last = seq;
}

}  // namespace

void checkPngChunks(const uint8_t* data, size_t size) {
  size_t pos = 8, textMemory = 0;
  bool seenImage = false, afterImage = false, framed = false;
  std::optional<uint32_t> frames;    // PngStream.im_n_frames, set by acTL
  std::optional<uint64_t> sequence;  // PngStream._seq_num, set by fcTL and fdAT
  // IHDR's size, for fcTL's frame bounds (libpng rejects a file without a proper IHDR).
  const uint64_t imageWidth = size >= 24 ? readU32(data + 16) : 0;
  const uint64_t imageHeight = size >= 24 ? readU32(data + 20) : 0;
  while (size - pos >= 8) {
    const uint8_t* h = data + pos;
    const uint64_t length = readU32(h);
    const uint8_t* type = h + 4;
    if (!isChunkType(type) || isType(type, "IEND")) break;
    if (isType(type, "IDAT")) {
      seenImage = true;
    } else if (seenImage) {
      afterImage = true;
    }
    // load_end stops at the next frame's fcTL of an animated PNG (is_animated: more than one
    // frame, the IDAT image counting as one more when no fcTL came before it).
    const bool animated = frames && *frames + (framed ? 0 : 1) > 1;
    if (afterImage && animated && isType(type, "fcTL")) break;
    if (length > size - pos - 8) {
      if (afterImage) {
        throw Error(code::kTruncated, std::string("PNG chunk ") +
                                          std::string(reinterpret_cast<const char*>(type), 4) +
                                          " after the image data is cut short (PIL: Truncated "
                                          "File Read)");
      }
      break;  // inside or before the image data: libpng's and patchTruncatedIdat's to judge
    }
    const Bytes body{h + 8, static_cast<size_t>(length)};
    if (isType(type, "tEXt") || isType(type, "zTXt") || isType(type, "iTXt")) {
      textMemory += textLength(type, body);
      if (textMemory > kMaxTextMemory) {
        throw Error(code::kDecode,
                    "PNG text chunks hold more than 64 MiB of text (PIL refuses it: "
                    "PngImagePlugin.MAX_TEXT_MEMORY)");
      }
    }
    if (isType(type, "acTL")) {
      // chunk_acTL: a second acTL unsets the count; 0 or more than 2^31 frames is ignored.
      // After the image data it no longer changes what is animated (decided at open).
      if (length < 8) apngError("truncated acTL chunk");
      const uint32_t count = readU32(body.data);
      if (!seenImage && frames) {
        frames.reset();
      } else if (!seenImage && count != 0 && count <= 0x80000000u) {
        frames = count;
      }
    }
    if (isType(type, "fcTL")) {
      // chunk_fcTL: at least 26 bytes, sequence numbers 0, 1, 2... across fcTL and fdAT, and
      // a frame inside the image.
      if (length < 26) apngError("truncated fcTL chunk");
      checkSequence(&sequence, readU32(body.data), /*firstMayStart=*/true);
      const uint64_t width = readU32(body.data + 4), height = readU32(body.data + 8);
      const uint64_t x = readU32(body.data + 12), y = readU32(body.data + 16);
      if (x + width > imageWidth || y + height > imageHeight) apngError("invalid frames");
      if (!seenImage) framed = true;
    }
    if (isType(type, "fdAT")) {
      // chunk_fdAT: a sequence number first. Without an fcTL before it, PIL's _seq_num is
      // None and any fdAT is a sequence error: an acTL not followed by an fcTL.
      if (length < 4) apngError("truncated fdAT chunk");
      checkSequence(&sequence, readU32(body.data), /*firstMayStart=*/false);
    }
    if (length + 12 > size - pos) break;  // the CRC is cut: PIL reads past it, then stops
    pos += static_cast<size_t>(length) + 12;
  }
}

}  // namespace chori::image::detail
