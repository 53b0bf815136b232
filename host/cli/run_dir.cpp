#include "cli/run_dir.h"

#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

// Whether process `pid` is running (kill with signal 0 only checks; EPERM
// means it runs under another user).
bool is_running(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// A file written atomically goes through ".NAME.tmp-PID" (file_io.h); one
// left by a process that no longer runs (killed, or a full disk before
// piade removed its temporaries) is garbage, up to a checkpoint's size. One
// of a running process is another piade writing into the directory now.
// The file a leftover temporary would have become: "NAME" for
// ".NAME.tmp-PID" when process PID no longer runs, else "".
std::string leftover_target(const fs::path& path) {
  const std::string name = path.filename().string();
  if (name.size() < 2 || name[0] != '.') return "";
  const auto tmp = name.rfind(".tmp-");
  if (tmp == std::string::npos || tmp < 1) return "";
  const std::string pid = name.substr(tmp + 5);
  if (pid.empty() || pid.size() > 9 || !std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "";
  if (is_running(static_cast<pid_t>(std::stol(pid)))) return "";
  return name.substr(1, tmp - 1);
}

bool is_leftover_temporary(const fs::path& path, RunKind kind) {
  const std::string target = leftover_target(path);
  if (target.empty()) return false;
  for (const std::string& output : run_outputs(kind))
    if (output == target) return true;
  return false;
}

// A folder inside a training run that holds an evaluation of it.
bool is_evaluation(const fs::path& dir) { return fs::is_regular_file(dir / "metrics.json"); }

}  // namespace

const std::vector<std::string>& run_outputs(RunKind kind) {
  static const std::vector<std::string> train = {"checkpoint.pt", "best.pt", "train_log.csv"};
  static const std::vector<std::string> eval = {"metrics.json", "scores.csv", "roc.csv", "pr.csv", "roc.svg",
                                                "pr.svg", "pixel_roc.svg", "pro.svg", "report.html", "pictures"};
  return kind == RunKind::train ? train : eval;
}

bool holds_run(const fs::path& dir, RunKind kind) {
  std::error_code ec;
  for (const std::string& output : run_outputs(kind))
    if (fs::exists(dir / output, ec)) return true;
  return false;
}

std::size_t prepare_out_dir(const fs::path& dir, RunKind kind, bool overwrite, bool resume) {
  const char* command = kind == RunKind::train ? "train" : "eval";
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw Error(fmt::format("--out: '{}' is a file, not a directory", dir.string()));
  if (overwrite && resume) throw Error("--overwrite and --resume: give one of them");
  std::vector<fs::path> doomed;
  if (fs::is_directory(dir, ec))
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
      if (is_leftover_temporary(entry.path(), kind)) doomed.push_back(entry.path());
  if (holds_run(dir, kind) && !resume) {
    if (!overwrite) {
      // The leftovers go even when the run is refused: they are no one's.
      for (const fs::path& path : doomed) fs::remove(path, ec);
      std::string found;
      for (const std::string& output : run_outputs(kind))
        if (fs::exists(dir / output, ec)) found += (found.empty() ? "" : ", ") + output;
      throw Error(fmt::format("--out: '{}' holds an earlier {} run ({}); pass {}--overwrite to replace it{}, or "
                              "choose another --out",
                              dir.string(), command, found, kind == RunKind::train ? "--resume to continue it, " : "",
                              kind == RunKind::train ? " (its evaluations included)" : ""));
    }
    for (const std::string& output : run_outputs(kind))
      if (fs::exists(dir / output, ec)) doomed.push_back(dir / output);
    if (kind == RunKind::train)
      for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
        if (entry.is_directory(ec) && is_evaluation(entry.path())) doomed.push_back(entry.path());
  }
  for (const fs::path& path : doomed) {
    fs::remove_all(path, ec);
    if (ec) throw Error(fmt::format("--overwrite: cannot remove '{}' ({})", path.string(), ec.message()));
  }
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw Error(fmt::format("--out: cannot create the directory '{}'", dir.string()));
  return doomed.size();
}

std::size_t remove_compare_leftovers(const fs::path& dir) {
  // At the top only the files compare writes there: --out may be a folder
  // that also holds the user's files. runs/ is compare's alone.
  static const std::vector<std::string> top = {"grid.ini", "compare.json", "results.csv", "results.json",
                                               "summary.md", "report.html"};
  std::vector<fs::path> doomed;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string target = leftover_target(entry.path());
    if (!target.empty() && std::find(top.begin(), top.end(), target) != top.end()) doomed.push_back(entry.path());
  }
  // slurm/: the scripts and job record of `compare --slurm`.
  for (const char* own : {"runs", "slurm"})
    if (fs::is_directory(dir / own, ec))
      for (fs::recursive_directory_iterator it(dir / own, ec), end; !ec && it != end; it.increment(ec))
        if (!it->is_directory(ec) && !leftover_target(it->path()).empty()) doomed.push_back(it->path());
  std::size_t removed = 0;
  for (const fs::path& path : doomed) removed += fs::remove(path, ec) ? 1 : 0;
  return removed;
}

}  // namespace piade
