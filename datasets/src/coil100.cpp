#include "piade/datasets/coil100.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <regex>

#include <fmt/format.h>

#include "piade/datasets/error.h"

namespace piade {
namespace fs = std::filesystem;

std::string number_ranges(const std::vector<int64_t>& numbers) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < numbers.size();) {
    std::size_t j = i;
    while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
    parts.push_back(j == i ? std::to_string(numbers[i]) : fmt::format("{}-{}", numbers[i], numbers[j]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

Coil100Files coil100_files(const std::string& root, uint64_t seed) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw DatasetError("data_root", fmt::format("'{}' is not a directory", root));
  // Object -> (angle, file), sorted below so the split does not depend on
  // the directory's order.
  std::map<int64_t, std::vector<std::pair<int64_t, std::string>>> views;
  const std::regex name(R"(obj(\d+)__(\d+)\.png)", std::regex::icase);
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::smatch match;
    const std::string file = entry.path().filename().string();
    if (!entry.is_regular_file() || !std::regex_match(file, match, name)) continue;
    // \d+ may be longer than any int64 (std::stoll would throw out_of_range).
    const auto number = [&](const std::string& digits) -> int64_t {
      if (digits.size() > 18)
        throw DatasetError(fmt::format("{}: number {} in a COIL-100 name (obj<N>__<angle>.png) is too large",
                                       entry.path().string(), digits));
      return std::stoll(digits);
    };
    views[number(match[1].str())].push_back({number(match[2].str()), entry.path().string()});
  }
  if (views.empty())
    throw DatasetError("data_root", fmt::format("'{}' has no COIL-100 images (obj<N>__<angle>.png)", root));
  Coil100Files files;
  std::mt19937_64 rng(seed);
  for (auto& [object, list] : views) {
    std::sort(list.begin(), list.end());
    std::shuffle(list.begin(), list.end(), rng);
    const std::size_t train = list.size() * 8 / 10;  // floor(80%)
    for (std::size_t i = 0; i < list.size(); ++i)
      (i < train ? files.train : files.test).push_back({list[i].second, object, ""});
    files.objects.push_back(object);
  }
  return files;
}

}  // namespace piade
