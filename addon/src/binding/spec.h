// Reads the spec object that js/model.js passes to NativeModel.configure() into native
// configuration. js/metadata.js has already validated it, so a mismatch here is a programming
// error, reported as a TypeError rather than trusted.
#pragma once

#include <napi.h>

#include <cstddef>

#include "model/classifier.h"

namespace chori::binding {

struct NativeConfig {
  model::ClassifierConfig classifier;
  size_t maxQueue = 0;
};

NativeConfig readConfig(const Napi::Object& spec);

}  // namespace chori::binding
