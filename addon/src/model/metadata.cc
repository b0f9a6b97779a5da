#include "model/metadata.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "chori/error.h"
#include "image/resample.h"

namespace chori::model {
namespace {

using nlohmann::json;

// js/metadata.js SCHEMA_VERSIONS: 2 adds input.fastai_resize; 1 is every artifact before it.
constexpr int kSchemaVersion = 2;

class Checker {
 public:
  explicit Checker(const std::string& source) : source_(source) {}
  void operator()(bool ok, const std::string& message) const {
    if (!ok) throw Error(code::kModelMetadata, "invalid chori.json in " + source_ + ": " + message);
  }

 private:
  const std::string& source_;
};

// JSON.stringify's text of a field, "undefined" when absent (the messages js/metadata.js writes).
std::string shown(const json& object, const char* key) {
  return object.is_object() && object.contains(key) ? object[key].dump() : "undefined";
}

// JavaScript's Number.isInteger: 256 and 256.0 alike, as js/metadata.js accepts them.
bool isInteger(const json& v) {
  if (v.is_number_integer()) return true;
  return v.is_number_float() && std::isfinite(v.get<double>()) && std::trunc(v.get<double>()) == v.get<double>();
}

bool positiveInts(const json& v, std::initializer_list<size_t> lengths) {
  if (!v.is_array() || std::find(lengths.begin(), lengths.end(), v.size()) == lengths.end()) return false;
  return std::all_of(v.begin(), v.end(), [](const json& x) { return isInteger(x) && x.get<double>() > 0; });
}

std::vector<int> ints(const json& v) {
  std::vector<int> out;
  for (const auto& x : v) out.push_back(static_cast<int>(x.get<double>()));
  return out;
}

std::array<float, 3> triple(const json& v) {
  // torchvision's Normalize turns the Python floats into the tensor's float32, as this cast does.
  return {static_cast<float>(v[0].get<double>()), static_cast<float>(v[1].get<double>()),
          static_cast<float>(v[2].get<double>())};
}

}  // namespace

Metadata parseMetadata(const std::string& text, const std::string& source) {
  const Checker check(source);
  json raw;
  try {
    raw = json::parse(text);
  } catch (const json::exception& e) {
    check(false, std::string("not JSON (") + e.what() + ")");
  }
  check(raw.is_object(), "expected a JSON object");
  check(raw.contains("schema_version") && (raw["schema_version"] == 1 || raw["schema_version"] == kSchemaVersion),
        "schema_version is " + shown(raw, "schema_version") + "; this chori-torch reads versions 1 and " +
            std::to_string(kSchemaVersion));

  Metadata m;
  const json& labels = raw.contains("labels") ? raw["labels"] : json();
  check(labels.is_array() && !labels.empty() &&
            std::all_of(labels.begin(), labels.end(), [](const json& l) { return l.is_string() && !l.get<std::string>().empty(); }),
        "labels must be a non-empty array of strings");
  for (const auto& l : labels) m.labels.push_back(l.get<std::string>());

  check(raw.contains("input") && raw["input"].is_object(), "input must be an object");
  const json& input = raw["input"];
  auto get = [&](const char* key) { return input.contains(key) ? input[key] : json(); };
  check(get("color_mode") == "RGB", "input.color_mode must be \"RGB\", not " + shown(input, "color_mode"));
  // resize and crop are required (null when not applied); max_size may be absent.
  const json resize = get("resize");
  check(input.contains("resize") && (resize.is_null() || positiveInts(resize, {1, 2})), "input.resize must be null, [size] or [height, width]");
  if (!resize.is_null()) m.input.resize = ints(resize);
  const json maxSize = get("max_size");
  check(maxSize.is_null() ||
            (isInteger(maxSize) && m.input.resize.size() == 1 && maxSize.get<double>() > m.input.resize[0]),
        "input.max_size must be null, or an integer larger than input.resize[0] when resize is [size]");
  if (!maxSize.is_null()) m.input.maxSize = static_cast<int>(maxSize.get<double>());
  const json crop = get("crop");
  check(input.contains("crop") && (crop.is_null() || positiveInts(crop, {2})), "input.crop must be null or [height, width]");
  if (!crop.is_null()) m.input.crop = std::array<int, 2>{ints(crop)[0], ints(crop)[1]};
  const json fastai = get("fastai_resize");
  if (!fastai.is_null()) {
    check(raw["schema_version"] == 2, "input.fastai_resize needs schema_version 2");
    check(fastai.is_object() && fastai.contains("size") && positiveInts(fastai["size"], {2}),
          "input.fastai_resize.size must be [height, width]");
    check(m.input.resize.empty() && !m.input.maxSize && !m.input.crop,
          "input.fastai_resize replaces resize, max_size and crop, which must be null");
    image::FastaiResize resize;
    resize.height = ints(fastai["size"])[0];
    resize.width = ints(fastai["size"])[1];
    const auto text = [&](const char* key) {
      return fastai.contains(key) && fastai[key].is_string() ? fastai[key].get<std::string>() : std::string();
    };
    try {
      resize.method = image::parseResizeMethod(text("method"));
    } catch (const Error&) {
      check(false, "input.fastai_resize.method must be one of crop, squish, pad");
    }
    try {
      resize.padMode = image::parsePadMode(text("pad_mode"));
    } catch (const Error&) {
      check(false, "input.fastai_resize.pad_mode must be one of zeros, border, reflection");
    }
    m.input.fastai = resize;
  }
  const json interpolation = get("interpolation");
  try {
    m.input.interpolation = image::parseFilter(interpolation.is_string() ? interpolation.get<std::string>() : "");
  } catch (const Error&) {
    check(false, "input.interpolation must be one of nearest, bilinear, bicubic, box, hamming, lanczos");
  }
  for (const char* key : {"mean", "std"}) {
    const json v = get(key);
    check(v.is_array() && v.size() == 3 && std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); }),
          std::string("input.") + key + " must hold 3 numbers");
  }
  m.input.mean = triple(get("mean"));
  m.input.std = triple(get("std"));
  const json stds = get("std");
  check(std::none_of(stds.begin(), stds.end(), [](const json& x) { return x.get<double>() == 0; }),
        "input.std must not contain 0");
  // Absent in artifacts written before the field existed: false, PIL's Image.open behaviour.
  const json exif = input.contains("exif_orientation") ? input["exif_orientation"] : json(false);
  check(exif.is_boolean(), "input.exif_orientation must be a boolean");
  m.exifOrientation = exif.get<bool>();

  const json output = raw.contains("output") ? raw["output"] : json();
  check(output.is_object() && output.contains("kind") && (output["kind"] == "logits" || output["kind"] == "probabilities"),
        "output.kind must be one of logits, probabilities");
  m.outputsAreProbabilities = output["kind"] == "probabilities";
  check(output.contains("num_classes") && isInteger(output["num_classes"]) &&
            output["num_classes"].get<double>() == static_cast<double>(m.labels.size()),
        "output.num_classes (" + shown(output, "num_classes") +
            ") does not match the " + std::to_string(m.labels.size()) + " labels");

  // Optional (absent or null: fp32).
  const json precision = raw.contains("precision") ? raw["precision"] : json();
  check(precision.is_null() || precision == "fp32" || precision == "bf16", "precision must be one of fp32, bf16");
  m.precision = precision == "bf16" ? Precision::BFloat16 : Precision::Float32;

  if (raw.contains("provenance") && raw["provenance"].is_object() && raw["provenance"].contains("torch_version") &&
      raw["provenance"]["torch_version"].is_string()) {
    m.torchVersion = raw["provenance"]["torch_version"].get<std::string>();
  }
  return m;
}

Precision recordedPrecision(const std::string& text) {
  const json raw = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const bool bf16 = raw.is_object() && raw.contains("precision") && raw["precision"] == "bf16";
  return bf16 ? Precision::BFloat16 : Precision::Float32;
}

std::array<int, 2> staticInputSize(const image::InputSpec& input) {
  if (input.fastai) return {input.fastai->height, input.fastai->width};
  if (input.crop) return *input.crop;
  if (input.resize.size() == 2) return {input.resize[0], input.resize[1]};
  return {0, 0};
}

}  // namespace chori::model
