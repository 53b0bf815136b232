#include "cli/run_dir.h"

#include <system_error>

#include <fmt/format.h>

#include "piade/core/error.h"

namespace piade {
namespace fs = std::filesystem;
namespace {

// A file written atomically goes through ".NAME.tmp-PID" (file_io.h); one
// left by a killed run is garbage.
bool is_leftover_temporary(const fs::path& path, RunKind kind) {
  const std::string name = path.filename().string();
  if (name.size() < 2 || name[0] != '.') return false;
  const auto tmp = name.find(".tmp-");
  if (tmp == std::string::npos) return false;
  const std::string target = name.substr(1, tmp - 1);
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

}  // namespace piade
