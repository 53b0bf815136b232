// The runner's interrupt forwarding (benchmarks/compare/src/runner.cpp) with
// real child processes.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "piade/compare/runner.h"

namespace fs = std::filesystem;

namespace piade::compare {
namespace {

fs::path scratch_log(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("piade-runner-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// An interrupt that came before a child was spawned is passed to it as soon
// as it is registered, which is right after fork(), while the child may
// still run this process's handler. It used to be swallowed there (the
// child's copy of the handler saw the interrupt flag already set and did
// nothing), so the child ran to its end: a compare interrupted as a run's
// training ended still ran its whole evaluation. Each child here would
// sleep 30 s; each must end by the interrupt instead (before the fix, all
// but a few did not).
TEST(Runner, AChildSpawnedAfterAnInterruptIsInterruptedToo) {
  const InterruptForwarding forwarding;
  ASSERT_EQ(::raise(SIGINT), 0);
  ASSERT_TRUE(interrupted());
  const fs::path log = scratch_log("sleep.log");
  for (int attempt = 0; attempt < 5; ++attempt)
    EXPECT_EQ(run_process({"/bin/sleep", "30"}, log), 128 + SIGINT) << "attempt " << attempt;
}

TEST(Runner, AChildsOutputGoesToTheLogAndItsStatusIsReturned) {
  const InterruptForwarding forwarding;  // a fresh one: no interrupt yet
  const fs::path log = scratch_log("echo.log");
  fs::remove(log);
  EXPECT_EQ(run_process({"/bin/sh", "-c", "echo written; exit 3"}, log), 3);
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "written");
}

}  // namespace
}  // namespace piade::compare
