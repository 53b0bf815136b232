// The exclusive lock of a comparison's output directory: one `piade compare`
// (or `compare merge`) writes into a directory at a time. Two at once would
// both run every run and interleave their files.
#pragma once

#include <filesystem>
#include <string>

namespace piade::compare {

/// An flock(2) on DIR/.piade-compare.lock, held while the object lives and
/// by every child started with run_process(..., fd()) until that child ends,
/// so that a rerun after `kill -9` of compare never races a surviving
/// training run. The file names the holder (pid, host, start time in UTC,
/// command line); flock, not the file's existence, is the lock, so a holder
/// that died leaves nothing that blocks the next run.
class DirectoryLock {
 public:
  /// exclusive: compare, merge, a Slurm submission and its merge job.
  /// shared: the array tasks of `compare --slurm`, one run each, which run
  /// side by side in their own run folders (each under a RunLock) but still
  /// keep out any exclusive holder, and are kept out by one.
  enum class Mode { exclusive, shared };

  /// Creates `dir` and locks it; throws piade::Error naming `dir` and the
  /// holder when another process holds it (exclusively, or at all for an
  /// exclusive lock). `command_line` is what the file records about this
  /// holder (for shared holders: the latest of them).
  DirectoryLock(const std::filesystem::path& dir, const std::string& command_line, Mode mode = Mode::exclusive);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  /// The locked descriptor (close-on-exec; run_process passes it on).
  int fd() const { return fd_; }

  /// The lock file of `dir`.
  static std::filesystem::path file(const std::filesystem::path& dir);

 private:
  int fd_ = -1;
};

/// An flock(2) on a run folder's .piade-run.lock, held by the process that
/// brings the run to finished (compare or a Slurm array task) while the
/// object lives: what makes `compare --status` report the run as running.
class RunLock {
 public:
  /// Creates `run_folder` and locks it; throws piade::Error naming the
  /// folder when another process holds it (the same run twice at once).
  explicit RunLock(const std::filesystem::path& run_folder);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  /// Whether a live process holds the run folder's lock now (only reads).
  static bool held(const std::filesystem::path& run_folder);

 private:
  int fd_ = -1;
};

}  // namespace piade::compare
