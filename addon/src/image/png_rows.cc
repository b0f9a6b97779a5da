// Why a second way to read PNG rows. libpng inflates a row at a time through zlib and undoes
// the filters with scalar loops (Debian's build has no SIMD filters): on photographs that is
// most of the preprocessing time. For an image whose filtered rows fit kWholeStreamMaxBytes,
// libdeflate inflates the whole stream at once (about twice zlib's speed) and the filters are
// undone here, Paeth, Average and Sub with SSE2 for 3- and 4-byte pixels.
//
// Why it is exact. The filters are integer arithmetic fixed by the PNG specification, so any
// correct implementation gives libpng's bytes. The inflated bytes are the zlib stream's, which
// is accepted only when it is complete, its Adler-32 matches and it holds exactly the rows: in
// every other case (a cut stream, a bad checksum, too little or too much data, a filter type
// above 4, IDAT chunks cut by the end of the file) the caller decodes with libpng, which
// applies PIL's rules. libdeflate is laxer than zlib on two structural checks zlib makes
// (more than 286 literal/length or 30 distance codes declared, an incomplete code-length code);
// no encoder writes such streams, and one that did would also need its Adler-32 to match.
#include "image/png_rows.h"

#include <libdeflate.h>
#include <png.h>

#include <cstring>
#include <memory>
#include <vector>

#include "image/png_chunks.h"
#include "image/simd.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && !defined(CHORI_NO_SIMD)
#include <emmintrin.h>
#define CHORI_PNG_SSE2 1
#endif

namespace chori::image::detail {

namespace {

enum Filter : uint8_t { kNone = 0, kSub = 1, kUp = 2, kAverage = 3, kPaeth = 4 };

inline int absolute(int v) { return v < 0 ? -v : v; }

// PNG specification, 9.4 Filter type 4: the predictor nearest to a + b - c, ties a, b, c.
// Written as two replacements of the running best (a; b only if strictly nearer; c only if
// strictly nearer than that), which compilers make branch-free: the choice is unpredictable
// on photographs.
inline uint8_t paeth(int a, int b, int c) {
  int best = a;
  int distance = absolute(b - c);  // |p - a|
  const int pb = absolute(a - c);
  const int pc = absolute(a + b - 2 * c);
  if (pb < distance) {
    distance = pb;
    best = b;
  }
  if (pc < distance) best = c;
  return static_cast<uint8_t>(best);
}

// Row `row` (n bytes, pixels of `bpp` bytes) unfiltered in place; `prev` is the unfiltered
// row above (zeros above the first row).
void unfilterScalar(uint8_t type, uint8_t* row, const uint8_t* prev, size_t n, size_t bpp) {
  switch (type) {
    case kSub:
      for (size_t i = bpp; i < n; ++i) row[i] = static_cast<uint8_t>(row[i] + row[i - bpp]);
      break;
    case kUp:
      for (size_t i = 0; i < n; ++i) row[i] = static_cast<uint8_t>(row[i] + prev[i]);
      break;
    case kAverage:
      for (size_t i = 0; i < bpp && i < n; ++i) row[i] = static_cast<uint8_t>(row[i] + (prev[i] >> 1));
      for (size_t i = bpp; i < n; ++i) {
        row[i] = static_cast<uint8_t>(row[i] + ((row[i - bpp] + prev[i]) >> 1));
      }
      break;
    case kPaeth:
      for (size_t i = 0; i < bpp && i < n; ++i) row[i] = static_cast<uint8_t>(row[i] + prev[i]);
      for (size_t i = bpp; i < n; ++i) {
        row[i] = static_cast<uint8_t>(row[i] + paeth(row[i - bpp], prev[i], prev[i - bpp]));
      }
      break;
    default:
      break;
  }
}

#ifdef CHORI_PNG_SSE2
// One pixel of 3 or 4 bytes per step, its bytes in 16-bit lanes; each pixel needs the one
// before it, so the lanes are the pixel's channels. Loads read 4 bytes: for 3-byte pixels the
// fourth is the next pixel's (or, at the row's end, the next row's filter byte or the buffer's
// padding) and only ever meets lane 3, which is not stored.
template <size_t Bpp>
void unfilterSse2(uint8_t type, uint8_t* row, const uint8_t* prev, size_t n) {
  const __m128i zero = _mm_setzero_si128();
  auto load = [](const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm_cvtsi32_si128(v);
  };
  // Through a general register, byte by byte for 3: a 3-byte memcpy goes through the stack.
  auto store = [](uint8_t* p, __m128i v) {
    const uint32_t x = static_cast<uint32_t>(_mm_cvtsi128_si32(v));
    if constexpr (Bpp == 4) {
      std::memcpy(p, &x, 4);
    } else {
      const uint16_t low = static_cast<uint16_t>(x);
      std::memcpy(p, &low, 2);
      p[2] = static_cast<uint8_t>(x >> 16);
    }
  };
  __m128i a = zero;  // the unfiltered pixel to the left, 16-bit lanes
  __m128i c = zero;  // the one above it
  switch (type) {
    case kSub:
      for (size_t i = 0; i < n; i += Bpp) {
        const __m128i d = _mm_add_epi8(load(row + i), a);
        store(row + i, d);
        a = d;
      }
      break;
    case kAverage:
      for (size_t i = 0; i < n; i += Bpp) {
        const __m128i b = _mm_unpacklo_epi8(load(prev + i), zero);
        const __m128i avg = _mm_srli_epi16(_mm_add_epi16(a, b), 1);
        const __m128i d = _mm_add_epi8(load(row + i), _mm_packus_epi16(avg, avg));
        store(row + i, d);
        a = _mm_unpacklo_epi8(d, zero);
      }
      break;
    case kPaeth:
      for (size_t i = 0; i < n; i += Bpp) {
        const __m128i b = _mm_unpacklo_epi8(load(prev + i), zero);
        __m128i pa = _mm_sub_epi16(b, c);  // p - a
        __m128i pb = _mm_sub_epi16(a, c);  // p - b
        __m128i pc = _mm_add_epi16(pa, pb);  // p - c
        pa = _mm_max_epi16(pa, _mm_sub_epi16(zero, pa));
        pb = _mm_max_epi16(pb, _mm_sub_epi16(zero, pb));
        pc = _mm_max_epi16(pc, _mm_sub_epi16(zero, pc));
        const __m128i smallest = _mm_min_epi16(pc, _mm_min_epi16(pa, pb));
        const __m128i isA = _mm_cmpeq_epi16(smallest, pa);
        const __m128i isB = _mm_andnot_si128(isA, _mm_cmpeq_epi16(smallest, pb));
        const __m128i isC = _mm_andnot_si128(_mm_or_si128(isA, isB), _mm_set1_epi16(-1));
        const __m128i nearest = _mm_or_si128(
            _mm_or_si128(_mm_and_si128(isA, a), _mm_and_si128(isB, b)), _mm_and_si128(isC, c));
        const __m128i d = _mm_add_epi8(load(row + i), _mm_packus_epi16(nearest, nearest));
        store(row + i, d);
        a = _mm_unpacklo_epi8(d, zero);
        c = b;
      }
      break;
    default:
      unfilterScalar(type, row, prev, n, Bpp);
      break;
  }
}
#endif

// `vector`: the resampler's path (image/simd.h) is not scalar, so CHORI_SIMD=scalar checks
// these loops too.
void unfilter(uint8_t type, uint8_t* row, const uint8_t* prev, size_t n, size_t bpp, bool vector) {
  (void)vector;  // unused without the SSE2 loops
#ifdef CHORI_PNG_SSE2
  if (vector && type != kUp && type != kNone) {
    if (bpp == 3) return unfilterSse2<3>(type, row, prev, n);
    if (bpp == 4) return unfilterSse2<4>(type, row, prev, n);
  }
#endif
  unfilterScalar(type, row, prev, n, bpp);
}

// An unfiltered row of `width` pixels to RGB, as png.cc's libpng transforms make it:
// grey replicated, alpha dropped, palette indices looked up.
void toRgb(int colorType, const uint8_t* in, size_t width, const uint8_t* palette, uint8_t* out) {
  switch (colorType) {
    case PNG_COLOR_TYPE_RGB:
      std::memcpy(out, in, width * 3);
      break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      for (size_t x = 0; x < width; ++x, in += 4, out += 3) std::memcpy(out, in, 3);
      break;
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_GRAY_ALPHA: {
      const size_t step = colorType == PNG_COLOR_TYPE_GRAY ? 1 : 2;
      for (size_t x = 0; x < width; ++x, in += step, out += 3) out[0] = out[1] = out[2] = in[0];
      break;
    }
    case PNG_COLOR_TYPE_PALETTE:
      for (size_t x = 0; x < width; ++x, out += 3) std::memcpy(out, palette + 3 * in[x], 3);
      break;
    default:
      break;
  }
}

int channelsOf(int colorType) {
  switch (colorType) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
      return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return 4;
    default:
      return 0;
  }
}

struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// The zlib stream: the data of the consecutive IDAT chunks from `pos`, in one buffer only when
// there are several. Empty when a chunk is cut by the end of the file (libpng's case).
struct Stream {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::vector<uint8_t> joined;
};

bool collectIdat(const uint8_t* data, size_t size, size_t pos, Stream& stream) {
  std::vector<std::pair<size_t, size_t>> parts;
  while (size - pos >= 8 && std::memcmp(data + pos + 4, "IDAT", 4) == 0) {
    const size_t length = readU32(data + pos);
    if (length > 0x7fffffffU || length + 12 > size - pos) return false;
    parts.emplace_back(pos + 8, length);
    pos += length + 12;
  }
  if (parts.empty()) return false;
  if (parts.size() == 1) {
    stream.data = data + parts[0].first;
    stream.size = parts[0].second;
    return true;
  }
  for (const auto& [at, length] : parts) stream.joined.insert(stream.joined.end(), data + at, data + at + length);
  stream.data = stream.joined.data();
  stream.size = stream.joined.size();
  return true;
}

}  // namespace

bool readWholeStreamRows(const uint8_t* data, size_t size, size_t idat, int colorType,
                         const uint8_t* palette, RgbImage& image) {
  const size_t bpp = static_cast<size_t>(channelsOf(colorType));
  if (bpp == 0 || image.width < 1 || image.height < 1 || idat > size) return false;
  const size_t width = static_cast<size_t>(image.width);
  const size_t rowBytes = width * bpp;
  const size_t filtered = (rowBytes + 1) * static_cast<size_t>(image.height);
  if (rowBytes > kWholeStreamMaxBytes || filtered > kWholeStreamMaxBytes) return false;

  Stream stream;
  if (!collectIdat(data, size, idat, stream)) return false;
  const std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> inflater(libdeflate_alloc_decompressor());
  if (!inflater) return false;
  // Left uninitialised (every byte is inflated before it is read), plus 16 bytes of zeros: the
  // SSE2 filters' 4-byte loads may pass the last pixel.
  const std::unique_ptr<uint8_t[]> rows(new uint8_t[filtered + 16]);
  std::memset(rows.get() + filtered, 0, 16);
  size_t consumed = 0, produced = 0;
  // Success means one complete zlib stream with a matching Adler-32; bytes after it in the
  // IDAT data are ignored, as libpng ("Extra compressed data", a warning) and PIL do.
  if (libdeflate_zlib_decompress_ex(inflater.get(), stream.data, stream.size, rows.get(), filtered,
                                    &consumed, &produced) != LIBDEFLATE_SUCCESS ||
      produced != filtered) {
    return false;
  }
  const bool vector = activeSimdPath() != SimdPath::Scalar;
  const std::vector<uint8_t> zeros(rowBytes + 16, 0);
  const uint8_t* prev = zeros.data();
  for (int y = 0; y < image.height; ++y) {
    uint8_t* row = rows.get() + static_cast<size_t>(y) * (rowBytes + 1);
    if (row[0] > kPaeth) return false;  // libpng: "bad adaptive filter value"
    unfilter(row[0], row + 1, prev, rowBytes, bpp, vector);
    toRgb(colorType, row + 1, width, palette, image.row(y));
    prev = row + 1;
  }
  return true;
}

}  // namespace chori::image::detail
