// RgbImage → the float32 CHW tensor that torchvision's
// Compose([Resize, CenterCrop, ToTensor, Normalize]) makes from the same PIL image, or, for a
// fastai learner, what its Resize, ToTensor, IntToFloatTensor and Normalize make.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "image/fastai_resize.h"
#include "image/image.h"
#include "image/resample.h"

namespace chori::image {

struct InputSpec {
  // torchvision Resize size: {s} = shorter side to s, {h, w} = exact size, {} = no resize.
  std::vector<int> resize;
  std::optional<int> maxSize;
  // CenterCrop {h, w}; nullopt = no crop.
  std::optional<std::array<int, 2>> crop;
  Filter interpolation = Filter::Bilinear;
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};
  // fastai's Resize instead of torchvision's Resize and CenterCrop (which are then empty).
  // fastai's IntToFloatTensor (÷255) and Normalize do torchvision's arithmetic in its order.
  std::optional<FastaiResize> fastai;
};

// The {height, width} the pipeline produces for an input of the given size.
std::array<int, 2> outputSize(const InputSpec& spec, int width, int height);

// Writes 3 * H * W floats (planar RGB) to `out`, sized by outputSize().
void preprocess(const RgbImage& image, const InputSpec& spec, float* out);

}  // namespace chori::image
