#include "piade/compare/slurm.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "piade/core/error.h"

extern char** environ;

namespace piade::compare {
namespace {

namespace fs = std::filesystem;

// `program` on PATH, or "" (a name with a slash is taken as it is).
std::string find_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// A line of the script must stay one line: a line break in a value would
// end the #SBATCH line and run the rest as a shell command.
void check_one_line(const std::string& what, const std::string& value) {
  if (value.find_first_of("\n\r") != std::string::npos)
    throw Error(fmt::format("{}: '{}' holds a line break; give one line", what, value));
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& word : argv) text += (text.empty() ? "" : " ") + shell_word(word);
  return text;
}

// The #SBATCH lines both scripts share.
std::string common_lines(const SlurmOptions& options, const SlurmPlan& plan) {
  std::string text = fmt::format("#SBATCH --job-name={}\n#SBATCH --chdir={}\n", shell_word(plan.job_name),
                                 shell_word(plan.workdir.string()));
  if (!options.partition.empty()) text += "#SBATCH --partition=" + options.partition + "\n";
  if (!options.account.empty()) text += "#SBATCH --account=" + options.account + "\n";
  if (!options.time.empty()) text += "#SBATCH --time=" + options.time + "\n";
  return text;
}

std::string extra_lines(const SlurmOptions& options) {
  std::string text;
  for (const std::string& line : options.extra) text += "#SBATCH " + line + "\n";
  return text;
}

void check_options(const SlurmOptions& options) {
  check_one_line("--slurm-partition", options.partition);
  check_one_line("--slurm-account", options.account);
  check_one_line("--slurm-time", options.time);
  check_one_line("--slurm-gpus", options.gpus);
  for (const std::string& line : options.extra) check_one_line("--slurm-sbatch", line);
  if (options.cpus < 1) throw Error(fmt::format("--slurm-cpus: must be at least 1, got {}", options.cpus));
}

}  // namespace

std::string shell_word(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                              "_-+=/.,:@%") == std::string::npos)
    return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string array_script(const SlurmOptions& options, const SlurmPlan& plan) {
  check_options(options);
  if (plan.run_ids.empty()) throw Error("--slurm: no run to submit");
  // Slurm expands %A (the array's job id) and %a (the task) in --output.
  std::string text = fmt::format(
      "#!/bin/bash\n"
      "# Written by `piade compare --slurm`: one array task per unfinished run.\n"
      "# Submit again with the same piade command (finished runs are skipped);\n"
      "# follow with `piade compare {} --status`.\n",
      shell_word(plan.out_dir.string()));
  text += common_lines(options, plan);
  text += fmt::format("#SBATCH --array=0-{}\n#SBATCH --output={}\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task={}\n",
                      plan.run_ids.size() - 1, shell_word((plan.log_dir / "run-%A_%a.out").string()), options.cpus);
  if (!options.gpus.empty()) text += "#SBATCH --gpus-per-task=" + options.gpus + "\n";
  text += extra_lines(options);
  text += "set -eu\nruns=(\n";
  for (const std::string& run : plan.run_ids) text += "  " + shell_word(run) + "\n";
  text += ")\n";
  text += "exec " + command_line(plan.task_command) + " --run \"${runs[$SLURM_ARRAY_TASK_ID]}\"\n";
  return text;
}

std::string merge_script(const SlurmOptions& options, const SlurmPlan& plan) {
  check_options(options);
  std::string text =
      "#!/bin/bash\n"
      "# Written by `piade compare --slurm`: the tables of the comparison, once\n"
      "# every array task has ended (submitted with --dependency=afterany).\n";
  text += common_lines(options, plan);
  text += fmt::format("#SBATCH --output={}\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n",
                      shell_word((plan.log_dir / "merge-%j.out").string()));
  text += extra_lines(options);
  text += "set -eu\nexec " + command_line(plan.merge_command) + "\n";
  return text;
}

ProgramOutput run_program(const std::string& program, const std::vector<std::string>& args) {
  ProgramOutput result;
  const std::string path = find_on_path(program);
  if (path.empty()) {
    result.status = 127;
    return result;
  }
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(fmt::format("{}: cannot make a pipe ({})", program, std::strerror(errno)));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw Error(fmt::format("{}: cannot make a pipe ({})", program, std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, path.c_str(), &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw Error(fmt::format("{}: cannot start '{}' ({})", program, path, std::strerror(spawned)));
  }
  // Both pipes at once, so that neither fills up while the other is read.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_pipes = 2;
  while (open_pipes > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
      }
    }
  }
  for (pollfd& fd : fds)
    if (fd.fd >= 0) ::close(fd.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return result;
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string sbatch(const fs::path& script, const std::vector<std::string>& args) {
  std::vector<std::string> words = {"--parsable"};
  words.insert(words.end(), args.begin(), args.end());
  words.push_back(script.string());
  const ProgramOutput output = run_program("sbatch", words);
  if (output.status == 127 && output.out.empty() && output.err.empty())
    throw Error("sbatch: not found on PATH; run on a machine with Slurm's client commands (Debian: slurm-client)");
  // sbatch's last error line says why (its first often only repeats the option).
  auto last_line = [](const std::string& text) {
    std::string line, last;
    std::istringstream in(text);
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    return last;
  };
  // --parsable prints "jobid" or "jobid;cluster".
  std::string id = last_line(output.out);
  id = id.substr(0, id.find(';'));
  const bool numeric = !id.empty() && id.find_first_not_of("0123456789") == std::string::npos;
  if (output.status != 0 || !numeric) {
    std::string why = last_line(output.err);
    if (why.rfind("sbatch: ", 0) == 0) why = why.substr(8);
    if (why.empty()) why = output.status != 0 ? fmt::format("exited with status {}", output.status)
                                              : fmt::format("printed no job id ('{}')", last_line(output.out));
    throw Error(fmt::format("sbatch: {} ({})", why, script.string()));
  }
  return id;
}

std::vector<std::string> jobs_still_queued(const std::vector<std::string>& job_ids) {
  std::string list;
  for (const std::string& id : job_ids) list += (list.empty() ? "" : ",") + id;
  const ProgramOutput output = run_program("squeue", {"-h", "-j", list, "-o", "%F"});
  std::vector<std::string> queued;
  if (output.status != 0) return queued;  // gone from squeue's memory: an "Invalid job id" error
  std::istringstream in(output.out);
  for (std::string line; std::getline(in, line);)
    for (const std::string& id : job_ids)
      if (line == id && std::find(queued.begin(), queued.end(), id) == queued.end()) queued.push_back(id);
  return queued;
}

}  // namespace piade::compare
