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
    if (line.front() == '[') {
      const auto end = line.find(']');
      prefix = end == std::string::npos ? "" : trimmed(line.substr(1, end - 1)) + ".";
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;  // parse_config_file reports it
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
