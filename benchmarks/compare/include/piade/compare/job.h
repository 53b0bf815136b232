// One run of a grid, start to finish, in its own folder under runs/:
// config.ini (the settings, to rerun it by hand), train/ (checkpoint.pt,
// train_log.csv), eval/ (metrics.json, scores.csv, roc.csv, pictures/),
// log.txt (everything both commands printed), and result.json, written
// last: its presence with the run's hash is what makes the run finished.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "piade/compare/grid.h"
#include "piade/compare/run_result.h"

namespace piade::compare {

namespace fs = std::filesystem;

/// Where a run stands, from its folder.
enum class RunState {
  pending,      ///< nothing usable yet: trains from scratch
  interrupted,  ///< a checkpoint from an unfinished training: resumes it
  trained,      ///< training finished, evaluation not: evaluates
  finished,     ///< result.json with this run's hash: skipped
};

const char* state_name(RunState state);

/// What every run shares.
struct JobContext {
  fs::path out_dir;                      ///< the comparison's --out
  fs::path piade;                        ///< this executable
  int threads = 1;                       ///< LibTorch threads per run
  std::vector<std::string> common_args;  ///< passed to train and eval (--plugin-dir, --device)
  /// The dataset options (CommandTables::dataset): the run's values of these
  /// go to eval too, whose data the checkpoint records only in part.
  std::vector<std::string> dataset_keys;
  /// The --out directory's lock (DirectoryLock::fd()), which every child
  /// holds too; -1 for none.
  int lock_fd = -1;
};

fs::path run_folder(const JobContext& context, const RunSpec& run);

RunState run_state(const JobContext& context, const RunSpec& run);

/// The run's result.json, if it finished with exactly this configuration.
std::optional<RunResult> finished_result(const JobContext& context, const RunSpec& run);

struct JobOutcome {
  enum class Status { finished, failed, interrupted } status = Status::failed;
  RunResult result;     ///< when finished
  std::string message;  ///< when failed: which step, its exit status, the log
};

/// Brings a run to finished from `state`, what run_state() found its folder
/// in: trains (or resumes), evaluates, and writes result.json.
JobOutcome run_job(const JobContext& context, const RunSpec& run, RunState state);

/// The run folder's failed.txt: written (atomically) by run_job when the run
/// fails, with the message and the last lines of its log; removed when the
/// run is started again. What `compare --status` shows of a failed run.
fs::path failure_file(const JobContext& context, const RunSpec& run);

/// What `piade compare DIR --status` reports of a run.
struct RunProgress {
  enum class Kind { done, running, failed, pending } kind = Kind::pending;
  RunState state = RunState::pending;  ///< the folder's state (pending: how far it got)
  std::string failure;                 ///< failed: failure_file()'s text
};

const char* progress_name(RunProgress::Kind kind);

/// From the run folder alone (result.json, the RunLock, failed.txt, the
/// checkpoint): only reads, so it works while runs go on.
RunProgress run_progress(const JobContext& context, const RunSpec& run);

/// RunResult as stored in result.json and results.json, and back. Throws
/// piade::Error naming `source` for a malformed one.
nlohmann::json result_to_json(const RunResult& result);
RunResult result_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace piade::compare
