// The artifact's chori.json → what the C++ API configures a Classifier with. The same schema
// and the same checks as js/metadata.js (the Node front end parses it in JavaScript, as the
// addon has no JSON library); every problem is CHORI_MODEL_METADATA naming the field.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "image/preprocess.h"

namespace chori::api {

struct Metadata {
  std::vector<std::string> labels;
  image::InputSpec input;
  bool exifOrientation = false;
  bool outputsAreProbabilities = false;
  std::string torchVersion;  // provenance.torch_version; empty when absent
};

// Throws chori::Error(CHORI_MODEL_METADATA) with `source` (the artifact's path) in the message.
Metadata parseMetadata(const std::string& json, const std::string& source);

// The fixed {height, width} of every model input (a crop, or a [h, w] resize), or {0, 0} when
// the size follows the image: what optimize 'auto' and the warm-up depend on (js/optimize.js).
std::array<int, 2> staticInputSize(const image::InputSpec& input);

}  // namespace chori::api
