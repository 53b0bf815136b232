// A real single-node Slurm cluster for tests (issue 17): munged, slurmctld
// and slurmd from Debian's munge and slurm-wlm, started as root in a
// scratch directory (its own munge key, socket and logs; a generated
// slurm.conf on free loopback ports; state, spool and pid files inside),
// and torn down with the object: jobs cancelled, daemons stopped, the
// directory removed. Commands reach it through SLURM_CONF (command_prefix).
// Where the daemons cannot start (not root, packages missing, a daemon that
// dies), unavailable() says why and the test skips with that reason.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

extern char** environ;

namespace piade::test {

class SlurmCluster {
 public:
  SlurmCluster() {
    try {
      start();
    } catch (const std::exception& e) {
      unavailable_ = e.what();
      stop();
    }
  }
  ~SlurmCluster() { stop(); }
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  /// Why the cluster is not running ("" when it is).
  const std::string& unavailable() const { return unavailable_; }
  /// The scratch directory: slurm.conf, munge's files, the daemons' logs.
  const std::filesystem::path& dir() const { return dir_.path(); }
  /// "SLURM_CONF='...' " to put before a shell command (sbatch, squeue,
  /// scontrol, srun, or a piade that calls them).
  std::string command_prefix() const { return "SLURM_CONF=" + shell_quote((dir() / "slurm.conf").string()) + " "; }
  /// `command` with /bin/sh under the cluster's environment, stdout and stderr together.
  CommandResult run(const std::string& command) const { return run_command(command_prefix() + command); }

  /// The JobState of a job (of an array: "COMPLETED" once every task has,
  /// else the first other state), "" when scontrol does not know it.
  std::string job_state(const std::string& id) const {
    const CommandResult shown = run("scontrol -o show job " + shell_quote(id));
    if (shown.status != 0) return "";
    std::string state;
    for (const std::string& line : lines(shown.output)) {
      const auto at = line.find("JobState=");
      if (at == std::string::npos) continue;
      const std::string one = line.substr(at + 9, line.find(' ', at) - at - 9);
      if (state.empty() || state == "COMPLETED") state = one;
    }
    return state;
  }

  /// Waits until the job has ended (no longer pending, configuring or
  /// running), for at most `limit`; its final state, or "" on timeout.
  std::string wait_for_job(const std::string& id, std::chrono::seconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string state = job_state(id);
      if (!state.empty() && state != "PENDING" && state != "RUNNING" && state != "CONFIGURING" &&
          state != "COMPLETING" && state != "SUSPENDED")
        return state;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return "";
  }

 private:
  // A loopback port nothing listens on now.
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot find a free loopback port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
  }

  static std::string which(const std::string& program) {
    const CommandResult found = run_command("command -v " + program);
    return found.status == 0 && !found.output.empty() ? lines(found.output).front() : "";
  }

  pid_t spawn(std::vector<std::string> argv, const std::filesystem::path& log) {
    std::vector<char*> pointers;
    for (std::string& arg : argv) pointers.push_back(arg.data());
    pointers.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int error = posix_spawn(&pid, pointers[0], &actions, nullptr, pointers.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::runtime_error("cannot start " + argv[0]);
    daemons_.push_back(pid);
    return pid;
  }

  // Whether `pid` (a child) has exited; reaps it (and says so again after).
  static bool exited(pid_t pid) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    return reaped == pid || (reaped < 0 && errno == ECHILD);
  }

  void start() {
    if (::geteuid() != 0) throw std::runtime_error("not root: slurmd runs jobs as root here (SlurmdUser=root)");
    for (const char* program : {"munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "squeue", "scancel"})
      if (which(program).empty())
        throw std::runtime_error(std::string(program) + " is not installed (Debian: munge, slurm-wlm)");
    const std::filesystem::path d = dir();
    for (const char* sub : {"state", "spool", "log"}) std::filesystem::create_directories(d / sub);
    {
      // munge wants a private key of at least 32 bytes.
      std::ifstream random("/dev/urandom", std::ios::binary);
      std::string key(1024, '\0');
      random.read(key.data(), static_cast<std::streamsize>(key.size()));
      write_text(d / "munge.key", key);
      std::filesystem::permissions(d / "munge.key", std::filesystem::perms::owner_read);
    }
    const std::string socket = (d / "munge.socket").string();
    munged_ = spawn({which("munged"), "-F", "--force", "--key-file=" + (d / "munge.key").string(),
                     "--socket=" + socket, "--pid-file=" + (d / "munged.pid").string(),
                     "--log-file=" + (d / "munged.log").string(), "--seed-file=" + (d / "munge.seed").string()},
                    d / "log" / "munged.out");
    if (!wait_until([&] { return std::filesystem::exists(socket) || exited(munged_); }, std::chrono::seconds(20)) ||
        !std::filesystem::exists(socket))
      throw std::runtime_error("munged did not start: " + read_text(d / "log" / "munged.out") +
                               read_text(d / "munged.log"));

    long memory_kb = 0;
    {
      std::ifstream meminfo("/proc/meminfo");
      for (std::string word; meminfo >> word;)
        if (word == "MemTotal:") {
          meminfo >> memory_kb;
          break;
        }
    }
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::string conf =
        "ClusterName=piadetest\n"
        "SlurmctldHost=localhost\n"
        "SlurmctldPort=" + std::to_string(free_port()) + "\n"
        "SlurmdPort=" + std::to_string(free_port()) + "\n"
        "AuthType=auth/munge\nCredType=cred/munge\n"
        "AuthInfo=socket=" + socket + "\n"
        "SlurmUser=root\nSlurmdUser=root\n"
        "StateSaveLocation=" + (d / "state").string() + "\n"
        "SlurmdSpoolDir=" + (d / "spool").string() + "\n"
        "SlurmctldPidFile=" + (d / "slurmctld.pid").string() + "\n"
        "SlurmdPidFile=" + (d / "slurmd.pid").string() + "\n"
        "SlurmctldLogFile=" + (d / "log" / "slurmctld.log").string() + "\n"
        "SlurmdLogFile=" + (d / "log" / "slurmd.log").string() + "\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        "JobCompType=jobcomp/none\nJobAcctGatherType=jobacct_gather/none\n"
        "AccountingStorageType=accounting_storage/none\n"
        "MpiDefault=none\nReturnToService=2\nSwitchType=switch/none\n"
        // Jobs are scheduled at once, not at the next minute's pass.
        "SchedulerParameters=sched_interval=1\n"
        "NodeName=localhost CPUs=" + std::to_string(cpus > 0 ? cpus : 1) +
        " RealMemory=" + std::to_string(std::max(1L, memory_kb / 1024 * 9 / 10)) + " State=UNKNOWN\n"
        "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n";
    const std::filesystem::path conf_file = d / "slurm.conf";
    write_text(conf_file, conf);
    ::setenv("SLURM_CONF", conf_file.c_str(), 1);  // for the daemons; commands get command_prefix()
    slurmctld_ = spawn({which("slurmctld"), "-c", "-D", "-f", conf_file.string()}, d / "log" / "slurmctld.out");
    slurmd_ = spawn({which("slurmd"), "-c", "-D", "-N", "localhost", "-f", conf_file.string()},
                    d / "log" / "slurmd.out");
    ::unsetenv("SLURM_CONF");
    const bool idle = wait_until(
        [&] {
          if (exited(slurmctld_) || exited(slurmd_)) return true;
          const CommandResult state = run("sinfo -h -N -o %T");
          return state.status == 0 && state.output.find("idle") != std::string::npos;
        },
        std::chrono::seconds(60));
    const CommandResult state = run("sinfo -h -N -o %T");
    if (!idle || state.output.find("idle") == std::string::npos)
      throw std::runtime_error("the node did not become idle within 60 s (sinfo: " + state.output +
                               "); slurmctld: " + read_text(d / "log" / "slurmctld.out") +
                               " slurmd: " + read_text(d / "log" / "slurmd.out"));
    running_ = true;
  }

  void stop() {
    if (running_) {
      // Jobs first, so that no slurmstepd outlives the cluster.
      run("scancel --quiet --user root");
      wait_until([&] { return run("squeue -h").output.empty(); }, std::chrono::seconds(30));
      running_ = false;
    }
    // Last started, first stopped: slurmd, slurmctld, munged.
    for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) {
      const pid_t pid = *it;
      if (exited(pid)) continue;
      ::kill(pid, SIGTERM);
      if (!wait_until([&] { return exited(pid); }, std::chrono::seconds(20))) {
        if (!exited(pid)) ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
    daemons_.clear();
  }

  ScratchDir dir_;
  std::string unavailable_;
  std::vector<pid_t> daemons_;
  pid_t munged_ = -1, slurmctld_ = -1, slurmd_ = -1;
  bool running_ = false;
};

}  // namespace piade::test
