// The fixture plugins of tests/core/fixtures: one directory per case under
// PIADE_TEST_FIXTURE_DIR, which each test target using them defines (and
// makes depend on piade_test_fixtures).
#pragma once

#include <filesystem>
#include <string>

namespace piade::test {

/// The directory of one fixture case, built by tests/core/fixtures.
inline std::filesystem::path fixture_dir(const std::string& name) {
  return std::filesystem::path(PIADE_TEST_FIXTURE_DIR) / name;
}

/// The single plugin file of a fixture case (fixture_<case>.so).
inline std::filesystem::path fixture_file(const std::string& name) {
  return fixture_dir(name) / ("fixture_" + name + ".so");
}

}  // namespace piade::test
