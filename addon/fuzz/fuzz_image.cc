// libFuzzer target for the image pipeline, built without libtorch (scripts/fuzz.sh): every
// input is sniffed and decoded under the decompression-bomb guard, turned upright by its EXIF
// tag, then preprocessed with one of a few specs (torchvision's Resize + CenterCrop, fastai's
// crop/pad/squish, an upsampling resize) chosen by the input's length, so that all of them see
// every format without a spec prefix that would spoil the seed files. chori::Error is the
// expected outcome for a broken image; anything else (a crash, a sanitizer report, another
// exception) is a finding.
#include <chori/error.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "image/decode.h"
#include "image/preprocess.h"

namespace {

using chori::image::FastaiResize;
using chori::image::Filter;
using chori::image::InputSpec;

// Keeps one run small enough for the sanitizers' memory overhead (2048 x 2048 RGB, ~12 MB)
// while still exercising the guard: headers announcing more are refused before allocating.
constexpr uint64_t kFuzzMaxPixels = 2048ull * 2048ull;

InputSpec torchvisionSpec() {
  InputSpec spec;
  spec.resize = {64};
  spec.maxSize = 80;
  spec.crop = std::array<int, 2>{56, 48};
  spec.interpolation = Filter::Bilinear;
  spec.mean = {0.485f, 0.456f, 0.406f};
  spec.std = {0.229f, 0.224f, 0.225f};
  return spec;
}

InputSpec fastaiSpec(FastaiResize::Method method, FastaiResize::PadMode padMode, Filter filter) {
  InputSpec spec;
  spec.fastai = FastaiResize{40, 56, method, padMode};
  spec.interpolation = filter;
  return spec;
}

InputSpec upsamplingSpec() {
  InputSpec spec;
  spec.resize = {97, 131};  // larger than most seeds: the resampler's upsampling path
  spec.interpolation = Filter::Lanczos;
  return spec;
}

const std::vector<InputSpec>& specs() {
  static const std::vector<InputSpec> all = {
      torchvisionSpec(),
      fastaiSpec(FastaiResize::Method::Crop, FastaiResize::PadMode::Reflection, Filter::Bicubic),
      fastaiSpec(FastaiResize::Method::Pad, FastaiResize::PadMode::Reflection, Filter::Bilinear),
      fastaiSpec(FastaiResize::Method::Pad, FastaiResize::PadMode::Border, Filter::Hamming),
      fastaiSpec(FastaiResize::Method::Squish, FastaiResize::PadMode::Zeros, Filter::Box),
      upsamplingSpec(),
  };
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chori::image::DecodeOptions options;
  options.maxPixels = kFuzzMaxPixels;
  options.applyExifOrientation = size % 2 == 0;
  try {
    const auto image = chori::image::decode(data, size, options);
    const InputSpec& spec = specs()[size % specs().size()];
    // The addon's per-request budget for fastai's padded image (Classifier::preprocess).
    if (spec.fastai) chori::image::checkStagedSize(image.width, image.height, *spec.fastai, options.maxPixels);
    const auto [height, width] = chori::image::outputSize(spec, image.width, image.height);
    std::vector<float> out(static_cast<size_t>(3) * height * width);
    chori::image::preprocess(image, spec, out.data());
  } catch (const chori::Error&) {
    // A refused image: the addon turns this into a coded JS error.
  }
  return 0;
}
