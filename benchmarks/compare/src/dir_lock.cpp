#include "piade/compare/dir_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade::compare {
namespace {

// The holder's line, as the file holds it (one line, at most a few KiB).
std::string read_holder(int fd) {
  std::string text(4096, '\0');
  const ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

}  // namespace

std::filesystem::path DirectoryLock::file(const std::filesystem::path& dir) { return dir / ".piade-compare.lock"; }

DirectoryLock::DirectoryLock(const std::filesystem::path& dir, const std::string& command_line, Mode mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::filesystem::path path = file(dir);
  // O_CLOEXEC: only the children run_process starts get it, on purpose.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(fmt::format("--out: cannot open the lock file '{}' ({})", path.string(), std::strerror(errno)));
  while (::flock(fd_, (mode == Mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    const int error = errno;
    const std::string holder = read_holder(fd_);
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK)
      throw Error(fmt::format("--out: cannot lock '{}' ({})", path.string(), std::strerror(error)));
    // The children of a compare that was killed keep the lock until they
    // have stopped (they are told to when their parent dies).
    // Only a holder on this host can be looked up by its pid (Slurm array
    // tasks on other nodes hold it too, through a shared file system).
    pid_t pid = 0;
    char host[256] = {};
    const bool here = std::sscanf(holder.c_str(), "pid %d on %255s", &pid, host) == 2 && host_name() == host;
    const bool holder_ended = here && pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
    throw Error(fmt::format("--out: '{}' is in use by another piade compare ({}){}; wait for it or choose another --out",
                            dir.string(), holder.empty() ? "holder unknown" : holder,
                            holder_ended ? ", which has ended: the runs it started are still stopping" : ""));
  }
  const std::string line = fmt::format("pid {} on {} since {}: {}\n", ::getpid(), host_name(), utc_now(), command_line);
  // Best effort: the record only names the holder, the flock is the lock.
  [[maybe_unused]] const bool recorded =
      ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size());
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
std::filesystem::path run_lock_file(const std::filesystem::path& run_folder) { return run_folder / ".piade-run.lock"; }
}  // namespace

RunLock::RunLock(const std::filesystem::path& run_folder) {
  std::error_code ec;
  std::filesystem::create_directories(run_folder, ec);
  const std::filesystem::path path = run_lock_file(run_folder);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("{}: cannot open ({})", path.string(), std::strerror(errno)));
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(error == EWOULDBLOCK
                    ? fmt::format("run '{}' is being run by another process; it was submitted twice",
                                  run_folder.string())
                    : fmt::format("{}: cannot lock ({})", path.string(), std::strerror(error)));
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool RunLock::held(const std::filesystem::path& run_folder) {
  // O_RDONLY without O_CREAT: only reads; a folder without the file is not running.
  const int fd = ::open(run_lock_file(run_folder).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool busy = false;
  while (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    busy = errno == EWOULDBLOCK;
    break;
  }
  ::close(fd);  // releases the probe's lock, if it got one
  return busy;
}

}  // namespace piade::compare
