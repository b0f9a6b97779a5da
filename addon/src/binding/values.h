// C++ → JS value conversions shared by the workers.
#pragma once

#include <napi.h>

#include <cstring>
#include <vector>

namespace chori::binding {

inline Napi::Float32Array toFloat32Array(Napi::Env env, const std::vector<float>& values) {
  auto array = Napi::Float32Array::New(env, values.size());
  if (!values.empty()) std::memcpy(array.Data(), values.data(), values.size() * sizeof(float));
  return array;
}

}  // namespace chori::binding
