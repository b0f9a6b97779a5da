// The options object of the native load(path, options) → model::LoadRequest. js/model.js has
// validated the user's options already (validate.js messages); this checks every type again
// rather than trusting it, with a message naming the field, as CHORI_INVALID_ARGUMENT.
#pragma once

#include <napi.h>

#include "model/loader.h"

namespace chori::binding {

// Throws chori::Error(CHORI_INVALID_ARGUMENT) for an unknown key or a value of the wrong type;
// ranges are model::validate()'s.
model::LoadRequest readLoadRequest(const Napi::Value& options);

}  // namespace chori::binding
