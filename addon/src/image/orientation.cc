// EXIF orientation, read the way Pillow 13 reads it (Image.Exif.load, then
// TiffImagePlugin.ImageFileDirectory_v2.load for IFD0) and applied with the transposes
// ImageOps.exif_transpose picks. Pillow's leniency is mirrored, not improved on: an entry it
// skips we skip, a read past the end that makes it stop parsing makes us stop too.
#include "image/orientation.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace chori::image {

namespace {

constexpr uint16_t kOrientationTag = 0x0112;

class TiffReader {
 public:
  TiffReader(const uint8_t* data, bool littleEndian) : data_(data), le_(littleEndian) {}

  uint64_t u(size_t at, int bytes) const {  // caller has checked at + bytes <= size
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      const uint64_t b = data_[at + i];
      v |= le_ ? b << (8 * i) : b << (8 * (bytes - 1 - i));
    }
    return v;
  }
  uint64_t u(const uint8_t* p, int bytes) const { return u(static_cast<size_t>(p - data_), bytes); }

 private:
  const uint8_t* data_;
  bool le_;
};

// ImageFileDirectory_v2._load_dispatch: bytes per value of each TIFF type Pillow reads;
// 0 for the types it skips ("unsupported type").
int unitSize(uint16_t type) {
  switch (type) {
    case 1: case 2: case 6: case 7: return 1;   // BYTE, ASCII, SBYTE, UNDEFINED
    case 3: case 8: return 2;                   // SHORT, SSHORT
    case 4: case 9: case 11: case 13: return 4;  // LONG, SLONG, FLOAT, IFD
    case 5: case 10: case 12: case 16: return 8;  // RATIONAL, SRATIONAL, DOUBLE, LONG8
    default: return 0;
  }
}

// The first value of the tag as exif_transpose's dict lookup sees it: a number equal to an
// integer 2..8 selects a transpose (6, 6.0 and the rational 12/2 alike); bytes, strings
// (BYTE, UNDEFINED, ASCII), NaN and anything else select none.
int orientationValue(const TiffReader& r, uint16_t type, const uint8_t* v) {
  double value = 0;
  switch (type) {
    case 3: value = static_cast<double>(r.u(v, 2)); break;
    case 4: case 13: value = static_cast<double>(r.u(v, 4)); break;
    case 16: value = static_cast<double>(r.u(v, 8)); break;
    case 6: value = static_cast<int8_t>(v[0]); break;
    case 8: value = static_cast<int16_t>(r.u(v, 2)); break;
    case 9: value = static_cast<int32_t>(r.u(v, 4)); break;
    case 5: case 10: {  // IFDRational: a zero denominator is NaN
      const bool sign = type == 10;
      const int64_t num = sign ? int64_t(static_cast<int32_t>(r.u(v, 4))) : int64_t(r.u(v, 4));
      const int64_t den = sign ? int64_t(static_cast<int32_t>(r.u(v + 4, 4))) : int64_t(r.u(v + 4, 4));
      if (den == 0 || num % den != 0) return 1;
      value = static_cast<double>(num / den);
      break;
    }
    case 11: {
      const uint32_t bits = static_cast<uint32_t>(r.u(v, 4));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      value = f;
      break;
    }
    case 12: {
      const uint64_t bits = r.u(v, 8);
      std::memcpy(&value, &bits, sizeof value);
      break;
    }
    default:
      return 1;
  }
  if (!(value >= 2 && value <= 8) || value != std::floor(value)) return 1;
  return static_cast<int>(value);
}

}  // namespace

int exifOrientation(const uint8_t* data, size_t size) {
  if (data == nullptr) return 1;
  // Image.Exif.load: re.sub(b"^(Exif\x00\x00){1,2}", b"", data).
  for (int i = 0; i < 2 && size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0; ++i) {
    data += 6;
    size -= 6;
  }
  // TiffImagePlugin._accept on the 8-byte head; Pillow raises for anything else (PNG, WebP)
  // or swallows the error (JPEG): either way there is no orientation to apply.
  if (size < 8) return 1;
  static const char* const kPrefixes[] = {"MM\x00\x2a", "II\x2a\x00", "MM\x2a\x00",
                                          "II\x00\x2a", "MM\x00\x2b", "II\x2b\x00"};
  bool accepted = false;
  for (const char* prefix : kPrefixes) accepted = accepted || std::memcmp(data, prefix, 4) == 0;
  if (!accepted) return 1;
  // BigTIFF (ifh[2] == 43): Pillow cannot read its 8-byte IFD offset from an 8-byte head.
  if (data[2] == 43) return 1;
  const TiffReader r(data, data[0] == 'I');

  // ImageFileDirectory_v2.load: every OSError (a short read) ends the IFD, keeping what was read.
  const uint64_t ifd = r.u(size_t{4}, 4);
  if (ifd > size || size - ifd < 2) return 1;
  const uint64_t count = r.u(static_cast<size_t>(ifd), 2);
  std::vector<bool> stored(65536, false);  // `if tag in self._tagdata: continue` (first wins)
  uint64_t totalSize = 0;                  // out-of-line bytes so far, against the stream size
  uint16_t type = 0;
  const uint8_t* value = nullptr;
  size_t pos = static_cast<size_t>(ifd) + 2;
  for (uint64_t i = 0; i < count; ++i, pos += 12) {
    if (size - pos < 12) break;
    const uint16_t tag = static_cast<uint16_t>(r.u(pos, 2));
    const uint16_t entryType = static_cast<uint16_t>(r.u(pos + 2, 2));
    const uint64_t entryCount = r.u(pos + 4, 4);
    if (stored[tag]) continue;
    const int unit = unitSize(entryType);
    if (unit == 0) continue;
    const uint64_t bytes = entryCount * unit;  // < 2^35: no overflow
    const uint8_t* at = data + pos + 8;
    if (bytes > 4) {
      const uint64_t offset = r.u(pos + 8, 4);
      totalSize += bytes;
      if (totalSize > size) continue;                   // "Tag data larger than file"
      if (offset > size || size - offset < bytes) break;  // _safe_read: "Truncated File Read"
      at = data + offset;
    }
    if (bytes == 0) continue;  // `if not data: continue`
    stored[tag] = true;
    if (tag == kOrientationTag) {
      type = entryType;
      value = at;
    }
  }
  if (value == nullptr) return 1;
  // A count above 1 keeps the first value (Orientation is declared with length 1).
  return orientationValue(r, type, value);
}

void applyOrientation(RgbImage& image, int orientation) {
  if (orientation < 2 || orientation > 8) return;
  const ptrdiff_t w = image.width;
  const ptrdiff_t h = image.height;
  const ptrdiff_t row = w * 3;
  // Output pixel (x, y) is input pixel base + x * dx + y * dy (in bytes), for PIL's
  // Image.transpose methods; 5..8 swap the sides.
  ptrdiff_t base = 0, dx = 3, dy = row;
  switch (orientation) {
    case 2: base = (w - 1) * 3; dx = -3; dy = row; break;                  // FLIP_LEFT_RIGHT
    case 3: base = (h - 1) * row + (w - 1) * 3; dx = -3; dy = -row; break;  // ROTATE_180
    case 4: base = (h - 1) * row; dx = 3; dy = -row; break;                // FLIP_TOP_BOTTOM
    case 5: base = 0; dx = row; dy = 3; break;                             // TRANSPOSE
    case 6: base = (h - 1) * row; dx = -row; dy = 3; break;                // ROTATE_270
    case 7: base = (h - 1) * row + (w - 1) * 3; dx = -row; dy = -3; break;  // TRANSVERSE
    case 8: base = (w - 1) * 3; dx = row; dy = -3; break;                  // ROTATE_90
  }
  const bool swap = orientation >= 5;
  RgbImage out(swap ? image.height : image.width, swap ? image.width : image.height);
  const uint8_t* in = image.pixels.data();
  for (int y = 0; y < out.height; ++y) {
    uint8_t* o = out.row(y);
    const uint8_t* p = in + base + y * dy;
    for (int x = 0; x < out.width; ++x, o += 3, p += dx) {
      o[0] = p[0];
      o[1] = p[1];
      o[2] = p[2];
    }
  }
  image = std::move(out);
}

}  // namespace chori::image
