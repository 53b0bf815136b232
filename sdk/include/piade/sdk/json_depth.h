// A bound on how deeply JSON read from a file may nest, checked on the text
// before it is parsed: nlohmann::json's dump(), comparisons and the code that
// walks a document recurse once per level, so a file nesting 100,000 levels
// deep would overflow the stack (SIGSEGV) instead of being an error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace piade {

/// The deepest nesting of arrays and objects piade reads from a file; its
/// own files (checkpoint configurations, safetensors headers, results) nest
/// fewer than 10 levels.
constexpr std::size_t kMaxJsonDepth = 64;

/// "" when `text` nests arrays and objects at most kMaxJsonDepth deep, else
/// the problem as one line ("json nests deeper than 64 levels ..."). Brackets
/// inside strings do not count.
inline std::string json_depth_problem(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character, a quote included
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return "json nests arrays or objects deeper than " + std::to_string(kMaxJsonDepth) +
               " levels (at byte " + std::to_string(i) + "); the file is corrupt or not one piade wrote";
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return "";
}

}  // namespace piade
