// The N-API boundary for errors: C++ exceptions are caught here and become JS Errors with a
// stable `code`; nothing ever unwinds into the JS engine.
#pragma once

#include <napi.h>

#include <string>

namespace chori::binding {

struct Failure {
  std::string code;
  std::string message;
};

// Classifies the exception in flight; call only inside a catch block.
Failure currentFailure();

Napi::Error makeError(Napi::Env env, const Failure& failure);

// Runs the body of a synchronous N-API callback; anything it throws besides a Napi::Error (a
// chori::Error, std::bad_alloc from copying a huge buffer, std::system_error from starting a
// thread) leaves as a coded JS Error instead of terminating the process.
template <typename Body>
Napi::Value atBoundary(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw makeError(env, currentFailure());
  }
}

}  // namespace chori::binding
