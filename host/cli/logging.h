// Messages for people and for log files (spdlog). On the screen (stderr):
// information as is, warnings as "piade: warning: ...", errors as given;
// in --log-file: every message with its time and level. Progress is a bar
// on a terminal only; otherwise (a pipe, a cluster job's log) it is lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "cli/options.h"

namespace piade {

/// Installs the screen logger as spdlog's default (main() does, first), so
/// that every message, the SDK's warn() included, goes through it.
void install_screen_logger();

/// Applies --log-level, --quiet and --log-file. Throws piade::Error naming
/// the option for a bad level or a file that cannot be opened.
void configure_logging(const CommandLine& command_line);

/// A message for the log file only (e.g. the full list of files --skip-bad
/// skipped, of which the screen shows the first few); nothing without
/// --log-file.
void log_to_file_only(const std::string& message);

/// Whether --log-file is in use.
bool logging_to_file();

/// Whether standard error is a terminal (where a progress bar may be drawn).
bool stderr_is_terminal();

/// Progress of a long piece of work (epochs' steps, images scored, runs).
/// On a terminal, with --progress, a bar redrawn in place; otherwise a line
/// each time another tenth is done (after the first few seconds, so short
/// work stays quiet). Log messages in between clear the bar first.
class Progress {
 public:
  /// `what`: "scoring", "epoch 3/10", ...; `unit`: "images", "runs".
  Progress(std::string what, int64_t total, std::string unit, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// `done` of `total`, with a text after the counts (losses, rates).
  void update(int64_t done, const std::string& detail = "");
  /// Removes the bar (if any); the caller logs the summary.
  void finish();
  /// Seconds since construction.
  double elapsed() const;

 private:
  std::string what_, unit_;
  int64_t total_;
  bool bar_;      // drawing a bar
  bool lines_;    // writing lines (no terminal)
  int64_t next_tenth_ = 1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace piade
