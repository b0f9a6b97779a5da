#include "binding/errors.h"

#include <exception>
#include <new>

#include "chori/error.h"

namespace chori::binding {

Failure currentFailure() {
  try {
    throw;
  } catch (const chori::Error& e) {
    return {e.code(), e.what()};
  } catch (const std::bad_alloc&) {
    return {code::kInternal, "out of memory"};
  } catch (const std::exception& e) {
    return {code::kInternal, e.what()};
  } catch (...) {
    return {code::kInternal, "unknown native error"};
  }
}

Napi::Error makeError(Napi::Env env, const Failure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", Napi::String::New(env, failure.code));
  return error;
}

}  // namespace chori::binding
