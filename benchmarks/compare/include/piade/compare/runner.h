// Runs the jobs of a comparison as child processes, several at once, and
// stops them cleanly on Ctrl-C: the generic part of `piade compare`, which
// knows nothing about grids (as anomalib's runners/{serial,parallel}).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace piade::compare {

/// While alive, SIGINT, SIGTERM and SIGHUP no longer kill this process: they set
/// interrupted() and are passed on, once, to every child run_process()
/// started. Children run in their own process group so that a terminal's
/// Ctrl-C reaches them only through here (a training run then writes its
/// checkpoint and stops). One at a time.
class InterruptForwarding {
 public:
  InterruptForwarding();
  ~InterruptForwarding();
  InterruptForwarding(const InterruptForwarding&) = delete;
  InterruptForwarding& operator=(const InterruptForwarding&) = delete;
};

/// True once an interrupt arrived under InterruptForwarding.
bool interrupted();

/// Runs `argv` (argv[0] a path) with its standard output and error appended
/// to `log`, and waits for it. Returns its exit status, or 128 + the signal
/// that ended it (127: it could not be executed). Throws piade::Error when it
/// cannot be started. The child gets SIGKILL when this process dies, even by
/// SIGKILL, and keeps `inherited_fd` (a DirectoryLock's) open until it ends.
int run_process(const std::vector<std::string>& argv, const std::filesystem::path& log, int inherited_fd = -1);

/// Calls task(i) for i in [0, count) on up to `jobs` threads, in order of i;
/// no new task starts once interrupted(). A task's exception ends nothing
/// else: the first one is rethrown after all running tasks have returned.
void run_parallel(std::size_t count, int jobs, const std::function<void(std::size_t)>& task);

}  // namespace piade::compare
