// Text read from a file (a tensor name, a plugin name recorded in a
// checkpoint, a path) shown in an error message: its control characters
// escaped, so that a newline in the data cannot split the one line every
// piade error is (docs/reliability.md).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace piade {

/// `text` with each control character (below 0x20, and 0x7f) written as
/// \xNN: "a\nb" becomes "a\x0ab". Other bytes, UTF-8 included, are kept.
inline std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(byte));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

/// printable(text) in single quotes: 'a\x0ab'.
inline std::string printable_in_quotes(std::string_view text) { return "'" + printable(text) + "'"; }

}  // namespace piade
