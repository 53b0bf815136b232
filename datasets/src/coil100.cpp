#include "piade/datasets/coil100.h"

#include <algorithm>
#include <charconv>
#include <limits>
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

namespace {

// A run of digits from a file name; one too long for int64 is an error
// naming the file, not std::stoll's bare "stoll".
int64_t number_in_name(const std::string& path, const std::string& digits, const char* what) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size())
    throw DatasetError(fmt::format("{}: {} {} in the file name is out of range (at most {}); COIL-100 files are "
                                   "obj<N>__<angle>.png",
                                   path, what, digits, std::numeric_limits<int64_t>::max()));
  return value;
}

}  // namespace

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
    std::error_code status;
    if (!std::regex_match(file, match, name) || !entry.is_regular_file(status)) continue;
    const std::string path = entry.path().string();
    views[number_in_name(path, match[1].str(), "object number")].push_back(
        {number_in_name(path, match[2].str(), "angle"), path});
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
