#include "binding/load_options.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

#include "chori/error.h"

namespace chori::binding {
namespace {

// The options load() takes (js/index.d.ts LoadOptions).
constexpr const char* kKeys[] = {"threads",  "workers",    "maxPixels", "precision", "optimize",     "batch",
                                 "maxBatch", "maxDelayMs", "maxQueue",  "device",    "deterministic"};

// The value as a message shows it: 1.5, "two", true, null, an array, an object.
std::string shown(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number:
      return v.ToString().Utf8Value();
    case napi_string:
      return "\"" + v.As<Napi::String>().Utf8Value() + "\"";
    default:
      return v.IsArray() ? "an array" : "an object";
  }
}

[[noreturn]] void wrongType(const std::string& key, const char* expected, const Napi::Value& v) {
  throw Error(code::kInvalidArgument, "options." + key + " must be " + expected + ", not " + shown(v));
}

class Reader {
 public:
  explicit Reader(Napi::Object object) : object_(object) {}

  // Absent, undefined and null all mean "not given", as in js/validate.js.
  bool has(const char* key) const {
    if (!object_.Has(key)) return false;
    const Napi::Value v = object_.Get(key);
    return !v.IsUndefined() && !v.IsNull();
  }

  double number(const char* key) const {
    const Napi::Value v = object_.Get(key);
    if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) wrongType(key, "a number", v);
    return v.As<Napi::Number>().DoubleValue();
  }

  int64_t integer(const char* key) const {
    const double d = number(key);
    if (std::trunc(d) != d || std::fabs(d) > 9007199254740991.0) wrongType(key, "an integer", object_.Get(key));
    return static_cast<int64_t>(d);
  }

  int smallInteger(const char* key) const {
    const int64_t v = integer(key);
    if (v < -(1 << 30) || v > (1 << 30)) throw Error(code::kInvalidArgument, std::string("options.") + key + " is out of range");
    return static_cast<int>(v);
  }

  std::string text(const char* key) const {
    const Napi::Value v = object_.Get(key);
    if (!v.IsString()) wrongType(key, "a string", v);
    return v.As<Napi::String>().Utf8Value();
  }

  bool flag(const char* key) const {
    const Napi::Value v = object_.Get(key);
    if (!v.IsBoolean()) wrongType(key, "a boolean", v);
    return v.As<Napi::Boolean>().Value();
  }

 private:
  Napi::Object object_;
};

}  // namespace

model::LoadRequest readLoadRequest(const Napi::Value& options) {
  model::LoadRequest request;
  if (options.IsUndefined() || options.IsNull()) return request;
  if (!options.IsObject() || options.IsArray()) {
    throw Error(code::kInvalidArgument, "options must be an object, not " + shown(options));
  }
  const Napi::Object object = options.As<Napi::Object>();
  const Napi::Array names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).ToString().Utf8Value();
    if (std::find(std::begin(kKeys), std::end(kKeys), name) != std::end(kKeys)) continue;
    std::string keys;
    for (const char* key : kKeys) keys += (keys.empty() ? "" : ", ") + std::string(key);
    throw Error(code::kInvalidArgument, "options." + name + " is not a load option (" + keys + ")");
  }
  const Reader r(object);
  if (r.has("threads")) request.threads = r.smallInteger("threads");
  if (r.has("workers")) request.workers = r.smallInteger("workers");
  if (r.has("precision")) {
    const std::string precision = r.text("precision");
    if (precision != "fp32" && precision != "bf16") {
      throw Error(code::kInvalidArgument, "options.precision must be fp32 or bf16, not '" + precision + "'");
    }
    request.precision = precision == "bf16" ? model::Precision::BFloat16 : model::Precision::Float32;
  }
  if (r.has("optimize")) request.optimize = r.text("optimize");
  if (r.has("maxPixels")) {
    const int64_t maxPixels = r.integer("maxPixels");
    if (maxPixels < 1) throw Error(code::kInvalidArgument, "options.maxPixels must be at least 1");
    request.maxPixels = static_cast<uint64_t>(maxPixels);
  }
  if (r.has("batch")) request.batch = r.flag("batch");
  if (r.has("maxBatch")) request.maxBatch = r.smallInteger("maxBatch");
  if (r.has("maxDelayMs")) request.maxDelayMs = r.number("maxDelayMs");
  if (r.has("maxQueue")) {
    const int64_t maxQueue = r.integer("maxQueue");
    if (maxQueue < 1) throw Error(code::kInvalidArgument, "options.maxQueue must be at least 1");
    request.maxQueue = static_cast<uint64_t>(maxQueue);
  }
  if (r.has("device")) request.device = model::parseDevice(r.text("device"));
  if (r.has("deterministic")) request.deterministic = r.flag("deterministic");
  return request;
}

}  // namespace chori::binding
