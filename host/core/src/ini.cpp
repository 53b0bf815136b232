#include "piade/core/ini.h"

#include <map>
#include <sstream>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

std::string ini_text(const std::string& file, std::string text,
                     const std::function<bool(const std::string&)>& repeatable) {
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  // The keys as parse_config_file forms them: "#" starts a comment, "[s]"
  // makes the following names "s.name".
  std::map<std::string, int> first_line;
  std::istringstream in(text);
  std::string line, prefix;
  for (int number = 1; std::getline(in, line); ++number) {
    line = trimmed(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    if (line.front() == '[' && line.back() == ']') {
      prefix = trimmed(line.substr(1, line.size() - 2)) + ".";
      continue;
    }
    const auto eq = line.find('=');
    // Said here, with the line number: boost's own message for such a line
    // loops forever when the line holds its placeholder "%invalid_line%"
    // (tests/fuzz/fuzz_grid).
    if (eq == std::string::npos) {
      std::string shown = line.substr(0, 80);  // control bytes shown as '?', to keep the message one line
      for (char& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      throw Error(fmt::format("{}: line {} is not 'key = value', a [section] or a # comment: '{}'", file, number,
                              shown));
    }
    const std::string name = trimmed(line.substr(0, eq));
    if (name.empty()) continue;  // a value without a key: parse_config_file reports it
    const std::string key = prefix + name;
    const auto [earlier, inserted] = first_line.emplace(key, number);
    if (!inserted && !(repeatable && repeatable(key)))
      throw Error(fmt::format("{}: '{}' is given twice (lines {} and {}); keep one", file, key, earlier->second,
                              number));
  }
  return text;
}

}  // namespace piade
