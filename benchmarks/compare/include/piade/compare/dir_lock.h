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
  /// Creates `dir` and locks it; throws piade::Error naming `dir` and the
  /// holder when another process holds it. `command_line` is what the
  /// file records about this holder.
  DirectoryLock(const std::filesystem::path& dir, const std::string& command_line);
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

}  // namespace piade::compare
