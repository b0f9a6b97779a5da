// The artifact's chori.json → what loading configures a Classifier with (model/loader.h). The
// same schema, checks and messages as js/metadata.js, which parses it again for `model.metadata`
// (labels, provenance) once the model has loaded; every problem is CHORI_MODEL_METADATA naming
// the field.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "image/preprocess.h"
#include "model/backend.h"

namespace chori::model {

struct Metadata {
  std::vector<std::string> labels;
  image::InputSpec input;
  bool exifOrientation = false;
  bool outputsAreProbabilities = false;
  std::string torchVersion;  // provenance.torch_version; empty when absent
  // `precision` (chori export --precision; absent: fp32): what load() runs in when its caller
  // names none.
  Precision precision = Precision::Float32;
};

// Throws chori::Error(CHORI_MODEL_METADATA) with `source` (the artifact's path) in the message.
Metadata parseMetadata(const std::string& json, const std::string& source);

// The `precision` a chori.json records, read leniently (fp32 when the text is not JSON or says
// nothing valid): what decides how the model loads, before parseMetadata() checks the whole file
// once the model has loaded, so that a file that is no model still reports CHORI_MODEL_LOAD first.
Precision recordedPrecision(const std::string& json);

// The fixed {height, width} of every model input (a crop, or a [h, w] resize), or {0, 0} when
// the size follows the image: what optimize 'auto' and the warm-up depend on (model/loader.cc).
std::array<int, 2> staticInputSize(const image::InputSpec& input);

}  // namespace chori::model
