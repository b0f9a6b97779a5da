// The registry of image formats: one row per format PIL opens, in the order PIL's plugins try
// them (Image.preinit, then PIL._plugins), each with its signature test and its decoder. The
// dispatcher, the error messages, `versions` and the documented lists are built from it, so a
// new format is one row here (and one decoder file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "image/image.h"
#include "image/limits.h"

namespace chori::image {

struct FormatEntry {
  const char* name;  // PIL's Image.format ("JPEG", "PPM", "ICO")
  // The plugin's _accept: true when the first bytes carry this format's signature.
  bool (*sniff)(const uint8_t* data, size_t size);
  // nullptr: PIL opens the format but we refuse it (CHORI_UNSUPPORTED_FORMAT) ...
  RgbImage (*decode)(const uint8_t* data, size_t size, const DecodeOptions& options);
  // ... for this reason, which the refusal message gives (nullptr: not implemented).
  const char* refusal;
};

// Every format, in PIL's order.
std::span<const FormatEntry> formats();

// The first row whose signature matches, or nullptr.
const FormatEntry* sniffFormat(const uint8_t* data, size_t size);

// "JPEG, PNG, ...": the names of the formats we decode, in the table's order.
std::string decodedFormatNames();

}  // namespace chori::image
