// `piade compare --slurm`: the sbatch scripts of a grid (an array job with
// one task per unfinished run, and a merge job that writes the tables once
// the array has ended) and their submission with Slurm's own sbatch.
// docs/scale-out.md shows a generated script.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace piade::compare {

/// What goes into the scripts' #SBATCH lines.
struct SlurmOptions {
  std::string partition;           ///< --partition; "" = the cluster's default
  std::string time;                ///< --time of each run (MM, HH:MM:SS, D-HH:MM); "" = the partition's
  int cpus = 1;                    ///< --cpus-per-task of each run, also its --threads
  std::string gpus;                ///< --gpus-per-task of each run ("1", "a100:2"); "" = none
  std::string account;             ///< --account; "" = the user's default
  std::vector<std::string> extra;  ///< raw lines after "#SBATCH " (--mem=16G, --qos=long), in both scripts
};

/// Where the scripts and their logs go.
struct SlurmPlan {
  std::string job_name;                    ///< piade-<grid title>
  std::filesystem::path out_dir;           ///< the comparison's --out
  std::filesystem::path workdir;           ///< --chdir: where relative paths in the grid resolve
  std::filesystem::path log_dir;           ///< the tasks' and the merge's output files
  std::vector<std::string> task_command;   ///< argv of one run, to which `--run ID` is appended
  std::vector<std::string> merge_command;  ///< argv of the merge
  std::vector<std::string> run_ids;        ///< one array task each, task i runs run_ids[i]
};

/// `word` quoted for bash when it needs it (single quotes).
std::string shell_word(const std::string& word);

/// The array script: task i (SLURM_ARRAY_TASK_ID) runs plan.task_command
/// with `--run plan.run_ids[i]`. Throws piade::Error for an option that
/// would break the script (a line break in it).
std::string array_script(const SlurmOptions& options, const SlurmPlan& plan);

/// The merge script: one CPU, no GPU, the same partition, account, time and
/// extra lines; runs plan.merge_command.
std::string merge_script(const SlurmOptions& options, const SlurmPlan& plan);

/// A program's exit status and output, stdout and stderr apart.
struct ProgramOutput {
  int status = -1;  ///< exit status; 128 + signal
  std::string out, err;
};

/// Runs `program` (found on PATH) with `args`, stdin empty, and waits.
/// Status 127 with nothing in `out` or `err` when it is not on PATH.
ProgramOutput run_program(const std::string& program, const std::vector<std::string>& args);

/// `sbatch --parsable ARGS... SCRIPT`; returns the job id. Throws
/// piade::Error "sbatch: ..." with sbatch's own message (its last error line)
/// when sbatch is not on PATH, refuses the job or prints no job id.
std::string sbatch(const std::filesystem::path& script, const std::vector<std::string>& args = {});

/// Which of `job_ids` Slurm still has queued or running (`squeue -h -j`);
/// empty when squeue is missing or knows none of them.
std::vector<std::string> jobs_still_queued(const std::vector<std::string>& job_ids);

}  // namespace piade::compare
