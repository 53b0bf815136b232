// Running programs from tests: shell quoting, a command's exit status with
// its output (together, or stdout and stderr apart), the `piade` executable
// of this build, and the Python that runs the references
// (PIADE_REFERENCE_PYTHON: Debian's, with torchvision and scikit-learn).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/scratch_dir.h"

extern char** environ;

namespace piade::test {

/// `word` single-quoted for /bin/sh.
inline std::string shell_quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

/// A command's exit status and its output, stdout and stderr together.
struct CommandResult {
  int status = -1;     ///< exit status; 128 + signal when killed
  std::string output;  ///< stdout and stderr together
};

/// A command's exit status, with stdout and stderr kept apart.
struct RunResult {
  int exit_code = -1;  ///< exit status; 128 + signal when killed
  std::string out;     ///< stdout
  std::string err;     ///< stderr
};

namespace detail {
// Runs `command` (redirections included) with /bin/sh and returns its stdout.
inline int read_stdout(const std::string& command, std::string& out) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = pclose(pipe);
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline std::string piade_words(const std::vector<std::string>& args) {
  std::string command = shell_quote(std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade");
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  return command;
}
}  // namespace detail

/// Runs `command` with /bin/sh, stdout and stderr together.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  result.status = detail::read_stdout(command + " 2>&1", result.output);
  return result;
}

/// Runs `command` with /bin/sh, stdout and stderr apart, stdin empty.
inline RunResult run_command_apart(const std::string& command) {
  const ScratchDir scratch;
  const std::filesystem::path err = scratch / "stderr";
  RunResult result;
  result.exit_code = detail::read_stdout("{ " + command + "\n} 2>" + shell_quote(err.string()) + " </dev/null",
                                         result.out);
  result.err = read_text(err);
  return result;
}

/// bin/piade of this build with `args`, each quoted; stdout and stderr together.
inline CommandResult run_piade_command(const std::vector<std::string>& args) {
  return run_command(detail::piade_words(args));
}

/// bin/piade of this build with `args`, each quoted, stdout and stderr apart,
/// and no PIADE_PLUGIN_PATH, so only --plugin-dir and the built-in plugins
/// count.
inline RunResult run_piade(const std::vector<std::string>& args) {
  return run_command_apart("env -u PIADE_PLUGIN_PATH " + detail::piade_words(args));
}

/// PIADE_REFERENCE_PYTHON running the file `script` with `args`, each quoted;
/// stdout and stderr together.
inline CommandResult run_reference_python(const std::filesystem::path& script,
                                          const std::vector<std::string>& args = {}) {
  std::string command = shell_quote(PIADE_REFERENCE_PYTHON) + " " + shell_quote(script.string());
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  return run_command(command);
}

/// PIADE_REFERENCE_PYTHON running `code` (python -c) with `args`, each
/// quoted; stdout and stderr together.
inline CommandResult run_reference_python_code(const std::string& code, const std::vector<std::string>& args = {}) {
  std::string command = shell_quote(PIADE_REFERENCE_PYTHON) + " -c " + shell_quote(code);
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  return run_command(command);
}

/// Starts the program argv[0] with argv, stdout and stderr into `log`,
/// without waiting; returns its pid (-1 when it cannot be started).
inline pid_t spawn_program(std::vector<std::string> argv, const std::filesystem::path& log) {
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, pointers[0], &actions, nullptr, pointers.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

/// Starts bin/piade of this build with `args`, stdout and stderr into `log`,
/// without waiting; returns its pid (-1 when it cannot be started).
inline pid_t spawn_piade(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> argv = {std::string(PIADE_TEST_BINARY_DIR) + "/bin/piade"};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_program(std::move(argv), log);
}

/// Waits for `pid` (a child of this process); its exit status, or 128 +
/// the signal that ended it.
inline int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Polls `done` every 20 ms until it holds or `limit` has passed; whether it held.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace piade::test
