#include "binding/spec.h"

#include <array>
#include <string>
#include <vector>

#include "binding/errors.h"

namespace chori::binding {
namespace {

Napi::Value field(const Napi::Object& spec, const char* name) {
  if (!spec.Has(name)) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " is missing");
  return spec.Get(name);
}

double number(const Napi::Object& spec, const char* name) {
  Napi::Value v = field(spec, name);
  if (!v.IsNumber()) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::vector<double> numbers(const Napi::Object& spec, const char* name) {
  Napi::Value v = field(spec, name);
  std::vector<double> out;
  if (v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must be an array");
  auto array = v.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must hold numbers");
    out.push_back(item.As<Napi::Number>().DoubleValue());
  }
  return out;
}

std::array<float, 3> triple(const Napi::Object& spec, const char* name) {
  auto v = numbers(spec, name);
  if (v.size() != 3) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must hold 3 numbers");
  // Normalize converts the Python floats to the tensor's float32, as this cast does.
  return {static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2])};
}

}  // namespace

NativeConfig readConfig(const Napi::Object& spec) {
  NativeConfig config;
  for (double v : numbers(spec, "resize")) config.classifier.input.resize.push_back(static_cast<int>(v));
  if (!field(spec, "maxSize").IsNull()) config.classifier.input.maxSize = static_cast<int>(number(spec, "maxSize"));
  auto crop = numbers(spec, "crop");
  if (crop.size() == 2) config.classifier.input.crop = std::array<int, 2>{static_cast<int>(crop[0]), static_cast<int>(crop[1])};
  Napi::Value interpolation = field(spec, "interpolation");
  if (!interpolation.IsString()) throw Napi::TypeError::New(spec.Env(), "spec.interpolation must be a string");
  try {
    config.classifier.input.interpolation = image::parseFilter(interpolation.As<Napi::String>().Utf8Value());
  } catch (...) {
    throw makeError(spec.Env(), currentFailure());
  }
  // { height, width, method, padMode } or null (js/metadata.js nativeSpec).
  Napi::Value fastai = field(spec, "fastai");
  if (!fastai.IsNull()) {
    if (!fastai.IsObject()) throw Napi::TypeError::New(spec.Env(), "spec.fastai must be an object or null");
    const auto f = fastai.As<Napi::Object>();
    image::FastaiResize resize;
    resize.height = static_cast<int>(number(f, "height"));
    resize.width = static_cast<int>(number(f, "width"));
    const Napi::Value method = field(f, "method"), padMode = field(f, "padMode");
    if (!method.IsString() || !padMode.IsString()) {
      throw Napi::TypeError::New(spec.Env(), "spec.fastai.method and padMode must be strings");
    }
    try {
      resize.method = image::parseResizeMethod(method.As<Napi::String>().Utf8Value());
      resize.padMode = image::parsePadMode(padMode.As<Napi::String>().Utf8Value());
    } catch (...) {
      throw makeError(spec.Env(), currentFailure());
    }
    config.classifier.input.fastai = resize;
  }
  config.classifier.input.mean = triple(spec, "mean");
  config.classifier.input.std = triple(spec, "std");
  config.classifier.numClasses = static_cast<int64_t>(number(spec, "numClasses"));
  config.classifier.outputsAreProbabilities = field(spec, "outputsAreProbabilities").ToBoolean();
  config.classifier.decode.maxPixels = static_cast<uint64_t>(number(spec, "maxPixels"));
  Napi::Value exifOrientation = field(spec, "exifOrientation");
  if (!exifOrientation.IsBoolean()) throw Napi::TypeError::New(spec.Env(), "spec.exifOrientation must be a boolean");
  config.classifier.decode.applyExifOrientation = exifOrientation.As<Napi::Boolean>().Value();
  config.classifier.batch.maxBatch = static_cast<int>(number(spec, "maxBatch"));
  config.classifier.batch.maxDelayMs = number(spec, "maxDelayMs");
  config.classifier.batch.background = true;  // the event loop comes first (thread_priority.h)
  if (config.classifier.batch.maxBatch < 1 || config.classifier.batch.maxDelayMs < 0) throw Napi::RangeError::New(spec.Env(), "bad batch options");
  config.maxQueue = static_cast<size_t>(number(spec, "maxQueue"));
  config.classifier.batch.workers = static_cast<int>(number(spec, "workers"));
  if (config.classifier.batch.workers < 1) throw Napi::RangeError::New(spec.Env(), "spec.workers must be at least 1");
  Napi::Value adaptive = field(spec, "adaptiveCores");
  if (!adaptive.IsUndefined()) config.classifier.batch.adaptiveCores = static_cast<int>(number(spec, "adaptiveCores"));
  if (config.classifier.batch.adaptiveCores < 0) throw Napi::RangeError::New(spec.Env(), "spec.adaptiveCores must be 0 or more");
  Napi::Value forwardThreads = field(spec, "forwardThreads");
  if (!forwardThreads.IsUndefined()) config.classifier.batch.forwardThreads = static_cast<int>(number(spec, "forwardThreads"));
  if (config.classifier.batch.forwardThreads < 0) throw Napi::RangeError::New(spec.Env(), "spec.forwardThreads must be 0 or more");
  return config;
}

}  // namespace chori::binding
