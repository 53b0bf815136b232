#include "piade/compare/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <iterator>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "piade/core/error.h"

extern char** environ;

namespace piade::compare {
namespace {

std::atomic<bool> g_interrupted{false};
// The running children, for the signal handler: a fixed table of atomics,
// because a handler may touch nothing that allocates or locks.
constexpr std::size_t kMaxChildren = 256;
std::array<std::atomic<pid_t>, kMaxChildren> g_children{};

extern "C" void forward_interrupt(int) {
  if (g_interrupted.exchange(true)) return;
  for (auto& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0) kill(pid, SIGINT);
  }
}

// The signals that stop a comparison, as they stop `piade train`: Ctrl-C,
// `kill`, and the terminal going away.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_old_actions[std::size(kStopSignals)] {};

std::size_t register_child(pid_t pid) {
  for (std::size_t i = 0; i < kMaxChildren; ++i) {
    pid_t empty = 0;
    if (g_children[i].compare_exchange_strong(empty, pid)) {
      // An interrupt that came between the spawn and this line still reaches it.
      if (g_interrupted) kill(pid, SIGINT);
      return i;
    }
  }
  throw Error(fmt::format("more than {} child processes at once", kMaxChildren));
}

}  // namespace

InterruptForwarding::InterruptForwarding() {
  g_interrupted = false;
  struct sigaction action {};
  action.sa_handler = forward_interrupt;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (std::size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &action, &g_old_actions[i]);
}

InterruptForwarding::~InterruptForwarding() {
  for (std::size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &g_old_actions[i], nullptr);
}

bool interrupted() { return g_interrupted; }

int run_process(const std::vector<std::string>& argv, const std::filesystem::path& log, int inherited_fd) {
  // Everything the child needs is made before fork(): between fork and exec
  // a child of a threaded process may only make system calls.
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw Error(fmt::format("cannot open the log '{}': {}", log.string(), std::strerror(errno)));
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  // The stop signals stay blocked from before fork() until the child has
  // reset their handlers: one arriving in between (register_child forwards
  // an interrupt that came during the spawn) would otherwise run the
  // inherited forward_interrupt in the child and be lost, and the child
  // would run to its end. Blocked, it stays pending and ends the child as
  // soon as the mask is cleared.
  sigset_t stop_signals, parent_mask;
  sigemptyset(&stop_signals);
  for (int signal : kStopSignals) sigaddset(&stop_signals, signal);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, &parent_mask);

  // fork + prctl + exec rather than posix_spawn, which cannot set
  // PR_SET_PDEATHSIG: a child must not outlive a compare killed with
  // SIGKILL, or a rerun would train into the same folder beside it. SIGKILL,
  // not SIGTERM: the run resumes from its last whole-epoch checkpoint, so
  // the rerun ends exactly where an uninterrupted run does, whereas a
  // checkpoint written on SIGTERM holds the weights of part of an epoch,
  // which the resumed run then trains again; and a child is gone at once.
  // The death signal follows the thread that forked, which is the one that
  // waits for the child below, so it lives as long as the child does.
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the child only through us
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died before the prctl: then nothing would come.
    if (::getppid() != parent) ::_exit(128 + SIGKILL);
    for (int signal : kStopSignals) ::signal(signal, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (in >= 0) ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    // The directory lock stays held while the child runs.
    if (inherited_fd >= 0) ::fcntl(inherited_fd, F_SETFD, 0);
    ::execve(args[0], args.data(), environ);
    const char message[] = "piade compare: cannot start the child process\n";
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  const int fork_error = errno;
  ::close(out);
  if (in >= 0) ::close(in);
  if (pid < 0) {
    ::pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
    throw Error(fmt::format("cannot start '{}': {}", argv[0], std::strerror(fork_error)));
  }

  const std::size_t slot = register_child(pid);
  ::pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_children[slot] = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void run_parallel(std::size_t count, int jobs, const std::function<void(std::size_t)>& task) {
  std::mutex mutex;
  std::size_t next = 0;
  std::exception_ptr first_error;
  auto worker = [&] {
    while (true) {
      std::size_t i = 0;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next >= count || interrupted()) return;
        i = next++;
      }
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first_error) first_error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(1, jobs); ++j) threads.emplace_back(worker);
  for (std::thread& thread : threads) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace piade::compare
