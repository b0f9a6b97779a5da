// The N-API boundary for errors: C++ exceptions are caught here and become JS Errors with a
// stable `code`; nothing ever unwinds into the JS engine.
#pragma once

#include <napi.h>

#include <string>

namespace chori::binding {

inline constexpr const char* kInternal = "CHORI_INTERNAL";

struct Failure {
  std::string code;
  std::string message;
};

// Classifies the exception in flight; call only inside a catch block.
Failure currentFailure();

Napi::Error makeError(Napi::Env env, const Failure& failure);

}  // namespace chori::binding
