// Running programs from tests: shell quoting, a command's exit status with
// its output, and the `piade` executable of this build.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace piade::test {

/// `word` single-quoted for /bin/sh.
inline std::string shell_quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

/// A whole file as text ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct CommandResult {
  int status = -1;     ///< exit status; 128 + signal when killed
  std::string output;  ///< stdout and stderr together
};

/// Runs `command` with /bin/sh, stdout and stderr together.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

/// bin/piade of this build with `args`, each quoted.
inline CommandResult run_piade_command(const std::vector<std::string>& args) {
  std::string command = shell_quote(std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade");
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  return run_command(command);
}

}  // namespace piade::test
