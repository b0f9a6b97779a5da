// One exception type for everything the core reports, to C++ callers as it is and to
// JavaScript through the N-API boundary, which turns it into a JS Error with `err.code` (no C++
// exception ever crosses into the JS engine). The code is a stable string, the same in both
// languages (docs/ARCHITECTURE.md, "Error codes").
#pragma once

#include <stdexcept>
#include <string>

namespace chori {

namespace code {
inline constexpr const char* kInvalidArgument = "CHORI_INVALID_ARGUMENT";
inline constexpr const char* kEmptyInput = "CHORI_EMPTY_INPUT";
inline constexpr const char* kDecode = "CHORI_DECODE";
inline constexpr const char* kTruncated = "CHORI_TRUNCATED";
inline constexpr const char* kUnsupportedFormat = "CHORI_UNSUPPORTED_FORMAT";
inline constexpr const char* kImageTooLarge = "CHORI_IMAGE_TOO_LARGE";
inline constexpr const char* kModelLoad = "CHORI_MODEL_LOAD";
inline constexpr const char* kModelMetadata = "CHORI_MODEL_METADATA";
inline constexpr const char* kInference = "CHORI_INFERENCE";
// device 'cuda' where no CUDA device can be used: a CPU-only libtorch, no driver, no device
inline constexpr const char* kDevice = "CHORI_DEVICE";
inline constexpr const char* kDisposed = "CHORI_DISPOSED";
inline constexpr const char* kOverloaded = "CHORI_OVERLOADED";
inline constexpr const char* kInternal = "CHORI_INTERNAL";  // an unexpected native failure
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace chori
