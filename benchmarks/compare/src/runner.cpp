#include "piade/compare/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
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

struct sigaction g_old_int {};
struct sigaction g_old_term {};

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
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
}

InterruptForwarding::~InterruptForwarding() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool interrupted() { return g_interrupted; }

int run_process(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);

  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int failed = posix_spawn(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (failed != 0) throw Error(fmt::format("cannot start '{}': {}", argv[0], std::strerror(failed)));

  const std::size_t slot = register_child(pid);
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
