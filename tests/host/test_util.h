// Helpers shared by the host tests: fixture locations, scratch directories
// and running the `piade` executable.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace piade::test {

namespace fs = std::filesystem;

/// The directory of one fixture case, built by tests/host/fixtures.
fs::path fixture_dir(const std::string& name);
/// The single plugin file of a fixture case (fixture_<case>.so).
fs::path fixture_file(const std::string& name);

/// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

void write_file(const fs::path& file, const std::string& content);
std::string read_file(const fs::path& file);

struct RunResult {
  int exit_code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs bin/piade with the words given (each shell-quoted) and no
/// PIADE_PLUGIN_PATH, so only --plugin-dir and the built-in plugins count.
RunResult run_piade(const std::vector<std::string>& args);

/// The lines of a text, without their '\n'.
std::vector<std::string> lines(const std::string& text);

}  // namespace piade::test
