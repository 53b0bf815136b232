// `piade compare GRID --out DIR`: runs every configuration x class x seed of
// a grid file (piade/compare/grid.h), each as `piade train` + `piade
// eval` in its own folder, resumably, several at once, or one shard of
// them; then writes the tables. `piade compare merge` joins shards.
// `--slurm` submits the runs as a Slurm array job instead (each task runs
// `compare --run ID`, the merge job `compare --tables-only`), and
// `compare DIR --status` reports where a comparison's runs stand.
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>
#include <mutex>
#include <sstream>
#include <map>
#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "piade/compare/dir_lock.h"
#include "piade/compare/grid.h"
#include "piade/compare/job.h"
#include "piade/compare/results.h"
#include "piade/compare/runner.h"
#include "piade/compare/slurm.h"
#include "piade/core/checkpoint.h"
#include "piade/sdk/json_depth.h"
#include "cli/cli.h"
#include "cli/run_dir.h"

namespace piade {
namespace {

using namespace piade::compare;

// What the lock file records about this holder.
std::string holder_command(const char* verb, const std::vector<std::string>& args) {
  std::string text = std::string("piade ") + verb;
  for (const std::string& arg : args) text += " " + arg;
  return text;
}

int merge(const std::vector<std::string>& args) {
  std::optional<CommandLine> parsed = parse_command(args, command_spec("compare"));
  if (!parsed) return 0;
  const CommandLine& command_line = *parsed;
  if (!command_line.values.count("out")) throw Error("merge: --out DIR is required");
  if (command_line.positional.empty()) throw Error("merge: give the --out directories of the shards to merge");
  std::vector<fs::path> inputs(command_line.positional.begin(), command_line.positional.end());
  const fs::path out = command_line.get<std::string>("out");
  // The shards are only read (their result.json files are written whole), so
  // a shard still running is no reason to wait; the --out written is locked.
  const DirectoryLock lock(out, holder_command("compare merge", args));
  const ResultsFile merged = merge_results(inputs, out);
  fmt::print("merged {} of the grid's {} runs from {} directories into {}\n", merged.runs.size(),
             merged.runs_in_grid, inputs.size(), out.string());
  if (static_cast<int>(merged.runs.size()) < merged.runs_in_grid)
    warn(fmt::format("{} runs are missing: merge the other shards too, or run them", merged.runs_in_grid -
                                                                                         static_cast<int>(merged.runs.size())));
  fmt::print("summary: {}\nreport: {}\n", (out / "summary.md").string(), (out / "report.html").string());
  return 0;
}

}  // namespace

po::options_description compare_own_options(const std::string& prefix) {
  po::options_description options;
  options.add_options()
      ((prefix + "out").c_str(), po::value<std::string>()->value_name("DIR"),
       "output directory: runs/, results.csv, results.json, summary.md, report.html")
      ((prefix + "jobs").c_str(), po::value<int>()->default_value(1)->value_name("N"),
       "runs at once; the --threads are shared among them")
      ((prefix + "shard").c_str(), po::value<std::string>()->value_name("K/N"),
       "run only every n-th run, starting at the k-th (merge shards with `piade compare merge`)")
      ((prefix + "seeds").c_str(), po::value<std::string>()->value_name("SEEDS"),
       "N (seeds 0..N-1) or a list 3,4: instead of the grid's seeds")
      ((prefix + "classes").c_str(), po::value<std::string>()->value_name("CLASSES"),
       "a list 0,1 or all: instead of the grid's classes")
      ((prefix + "list").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "list the runs and their state; run nothing")
      ((prefix + "status").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "`piade compare DIR --status`: done, running, failed and pending runs of DIR, with the failures' last "
       "lines; run nothing")
      ((prefix + "run").c_str(), po::value<std::string>()->value_name("RUN_ID"),
       "run only this run (a folder name under runs/, see --list), beside others: what a Slurm array task runs")
      ((prefix + "tables-only").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "write the tables from the runs finished so far and run nothing (the merge job of --slurm); exits 1 "
       "when some did not finish")
      ((prefix + "slurm").c_str(), po::value<bool>()->default_value(false)->implicit_value(true),
       "submit the unfinished runs as a Slurm array job (scripts in DIR/slurm/) and a merge job after it, "
       "with sbatch; DIR must be on a file system the compute nodes share")
      ((prefix + "slurm-partition").c_str(), po::value<std::string>()->value_name("NAME"),
       "--slurm: the partition (default: the cluster's)")
      ((prefix + "slurm-time").c_str(), po::value<std::string>()->value_name("TIME"),
       "--slurm: time limit of each run, as sbatch --time takes it (60, 2:00:00, 1-12)")
      ((prefix + "slurm-cpus").c_str(), po::value<int>()->default_value(1)->value_name("N"),
       "--slurm: CPUs of each run (sbatch --cpus-per-task), also its --threads")
      ((prefix + "slurm-gpus").c_str(), po::value<std::string>()->value_name("N"),
       "--slurm: GPUs of each run (sbatch --gpus-per-task: 1, a100:1); give --device cuda too")
      ((prefix + "slurm-account").c_str(), po::value<std::string>()->value_name("NAME"),
       "--slurm: the account charged (sbatch --account)")
      ((prefix + "slurm-sbatch").c_str(), po::value<std::vector<std::string>>()->composing()->value_name("LINE"),
       "--slurm: a raw #SBATCH line for both scripts, such as --mem=16G or --qos=long");
  return options;
}


namespace {

// The overrides compare applied to its grid, kept beside the grid's copy
// (DIR/compare.json), so that `compare DIR --status` expands the same runs.
std::string overrides_text(const GridOverrides& overrides) {
  return nlohmann::json{{"seeds", overrides.seeds}, {"classes", overrides.classes}, {"set", overrides.set}}.dump(2) +
         "\n";
}

GridOverrides read_overrides(const fs::path& file) {
  GridOverrides overrides;
  std::ifstream in(file);
  if (!in) return overrides;  // written by a piade before compare.json: the file's own settings
  const std::string text(std::istreambuf_iterator<char>(in), {});
  if (const std::string problem = json_depth_problem(text); !problem.empty())
    throw Error(fmt::format("{}: {}", file.string(), problem));
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    overrides.seeds = json.at("seeds").get<std::string>();
    overrides.classes = json.at("classes").get<std::string>();
    overrides.set = json.at("set").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not the overrides piade compare writes ({})", file.string(), e.what()));
  }
  return overrides;
}

// DIR/slurm/jobs.json: the last submission's job ids.
nlohmann::json read_jobs(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return nlohmann::json();
  const std::string text(std::istreambuf_iterator<char>(in), {});
  if (!json_depth_problem(text).empty()) return nlohmann::json();
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  return json.is_object() && json.contains("array_job") && json.contains("merge_job") ? json : nlohmann::json();
}

// `compare DIR --status`: every run's progress, the counts, the failures'
// last lines and the last Slurm submission.
int print_status(const JobContext& context, const std::vector<RunSpec>& runs) {
  std::map<RunProgress::Kind, int> counts;
  for (const RunSpec& run : runs) {
    const RunProgress progress = run_progress(context, run);
    ++counts[progress.kind];
    std::string detail;
    if (progress.kind == RunProgress::Kind::pending && progress.state != RunState::pending)
      detail = fmt::format(" ({})", state_name(progress.state));
    fmt::print("{:>4} {:<8} {}{}\n", run.index + 1, progress_name(progress.kind), run.run_id, detail);
    if (progress.kind == RunProgress::Kind::failed) {
      std::istringstream lines(progress.failure);
      for (std::string line; std::getline(lines, line);) fmt::print("       {}\n", line);
    }
  }
  fmt::print("{}: {} done, {} running, {} failed, {} pending\n", count_of(int64_t(runs.size()), "run"),
             counts[RunProgress::Kind::done], counts[RunProgress::Kind::running], counts[RunProgress::Kind::failed],
             counts[RunProgress::Kind::pending]);
  const nlohmann::json jobs = read_jobs(context.out_dir / "slurm" / "jobs.json");
  if (!jobs.is_null())
    fmt::print("slurm: array job {} ({}), merge job {}; follow with: squeue -j {},{}\n",
               jobs["array_job"].get<std::string>(), count_of(int64_t(jobs.value("runs", nlohmann::json::array()).size()), "run"),
               jobs["merge_job"].get<std::string>(), jobs["array_job"].get<std::string>(),
               jobs["merge_job"].get<std::string>());
  return 0;
}

std::string option_or_empty(const CommandLine& command_line, const std::string& name) {
  return command_line.values.count(name) ? command_line.get<std::string>(name) : "";
}

// `compare GRID --out DIR --slurm`: writes DIR/slurm/array.sh (one task per
// run of `todo`) and merge.sh, lets go of DIR's lock (the tasks take it
// shared, and Slurm may start them before sbatch returns), and submits both.
int submit_to_slurm(const CommandLine& command_line, const JobContext& context, const Grid& grid,
                    const GridOverrides& overrides, const std::vector<std::string>& todo_ids, std::size_t total,
                    std::unique_ptr<DirectoryLock>& lock) {
  const fs::path out = fs::absolute(context.out_dir).lexically_normal();
  const fs::path slurm_dir = out / "slurm", jobs_file = slurm_dir / "jobs.json";
  if (todo_ids.empty()) {
    fmt::print("all {} are finished: nothing to submit (the tables: piade compare {} --tables-only)\n",
               count_of(int64_t(total), "run"), (out / "grid.ini").string());
    return 0;
  }
  // A second submission while the first is still queued would run its runs twice.
  if (const nlohmann::json jobs = read_jobs(jobs_file); !jobs.is_null()) {
    const std::vector<std::string> queued =
        jobs_still_queued({jobs["array_job"].get<std::string>(), jobs["merge_job"].get<std::string>()});
    if (!queued.empty())
      throw Error(fmt::format("--slurm: job {} of the last submission to '{}' is still queued or running; wait "
                              "for it (piade compare {} --status) or scancel it",
                              queued.front(), out.string(), out.string()));
  }
  SlurmOptions options;
  options.partition = option_or_empty(command_line, "slurm-partition");
  options.time = option_or_empty(command_line, "slurm-time");
  options.gpus = option_or_empty(command_line, "slurm-gpus");
  options.account = option_or_empty(command_line, "slurm-account");
  options.cpus = command_line.get<int>("slurm-cpus");
  if (command_line.values.count("slurm-sbatch"))
    options.extra = command_line.get<std::vector<std::string>>("slurm-sbatch");

  // Absolute paths throughout: the scripts run on compute nodes, from the
  // directory compare was started in (--chdir), so that relative paths in
  // the grid (data-root) mean what they meant here.
  SlurmPlan plan;
  plan.job_name = "piade-" + grid.title;
  plan.out_dir = out;
  plan.workdir = fs::current_path();
  plan.log_dir = slurm_dir / "logs";
  plan.run_ids = todo_ids;
  std::vector<std::string> common = {context.piade.string(), "compare", (out / "grid.ini").string(), "--out",
                                     out.string(), "--device", command_line.get<std::string>("device")};
  for (std::size_t i = 0; i + 1 < context.common_args.size(); ++i)
    if (context.common_args[i] == "--plugin-dir") common.insert(common.end(), {"--plugin-dir", context.common_args[i + 1]});
  if (!overrides.seeds.empty()) common.insert(common.end(), {"--seeds", overrides.seeds});
  if (!overrides.classes.empty()) common.insert(common.end(), {"--classes", overrides.classes});
  for (const std::string& set : overrides.set) common.insert(common.end(), {"--set", set});
  plan.task_command = common;
  plan.task_command.insert(plan.task_command.end(), {"--threads", std::to_string(options.cpus)});
  plan.merge_command = common;
  plan.merge_command.insert(plan.merge_command.end(), {"--threads", "1", "--tables-only"});

  fs::create_directories(plan.log_dir);
  const fs::path array_file = slurm_dir / "array.sh", merge_file = slurm_dir / "merge.sh";
  write_file_atomic(array_file, array_script(options, plan));
  write_file_atomic(merge_file, merge_script(options, plan));
  lock.reset();

  const std::string array_job = sbatch(array_file);
  std::string merge_job;
  try {
    merge_job = sbatch(merge_file, {"--dependency=afterany:" + array_job});
  } catch (const Error& e) {
    throw Error(fmt::format("{}; the runs are submitted as array job {}: submit the merge by hand (sbatch "
                            "--dependency=afterany:{} {}) or scancel {}",
                            e.what(), array_job, array_job, merge_file.string(), array_job));
  }
  write_file_atomic(jobs_file, nlohmann::json{{"array_job", array_job},
                                              {"merge_job", merge_job},
                                              {"runs", todo_ids},
                                              {"array_script", array_file.string()},
                                              {"merge_script", merge_file.string()}}
                                       .dump(2) + "\n");
  fmt::print("submitted {} ({} finished before) as Slurm array job {} ({})\n"
             "and the merge as job {}, after it ({})\n"
             "follow with: squeue -j {},{}   or   piade compare {} --status\n"
             "logs: {}; the tables: {} once job {} has run\n",
             count_of(int64_t(todo_ids.size()), "run"), total - todo_ids.size(), array_job, array_file.string(),
             merge_job, merge_file.string(), array_job, merge_job, out.string(), plan.log_dir.string(),
             (out / "results.csv").string(), merge_job);
  return 0;
}

}  // namespace

int commands::compare(const std::vector<std::string>& raw_args) {
  if (!raw_args.empty() && raw_args[0] == "merge") return merge({raw_args.begin() + 1, raw_args.end()});
  std::optional<CommandLine> parsed = parse_command(raw_args, command_spec("compare"));
  if (!parsed) return 0;
  const CommandLine& command_line = *parsed;
  // A --set of a key compare does not use is a base setting of the grid.
  GridOverrides overrides;
  overrides.set = command_line.foreign_set;
  if (command_line.positional.size() != 1)
    throw Error(command_line.positional.empty() ? "give a grid file (see benchmarks/ablations/)"
                                                : fmt::format("unexpected argument '{}'", command_line.positional[1]));
  const bool list_only = command_line.get<bool>("list");
  const bool status_only = command_line.get<bool>("status");
  const bool tables_only = command_line.get<bool>("tables-only");
  const bool slurm = command_line.get<bool>("slurm");
  const std::string only_run = option_or_empty(command_line, "run");
  if (int(list_only) + int(status_only) + int(tables_only) + int(slurm) + int(!only_run.empty()) > 1)
    throw Error("--list, --status, --run, --tables-only and --slurm exclude each other; give one");
  for (const char* option : {"slurm-partition", "slurm-time", "slurm-gpus", "slurm-account", "slurm-sbatch"})
    if (command_line.values.count(option) && !slurm) throw Error(fmt::format("--{}: only with --slurm", option));
  if (command_line.has("slurm-cpus") && !slurm) throw Error("--slurm-cpus: only with --slurm");
  if (command_line.values.count("shard") && (slurm || !only_run.empty()))
    throw Error("--shard: not with --slurm or --run (--slurm gives each run its own array task)");
  if (command_line.values.count("seeds")) overrides.seeds = command_line.get<std::string>("seeds");
  if (command_line.values.count("classes")) overrides.classes = command_line.get<std::string>("classes");

  // `compare DIR --status`: the grid is DIR's copy, with the overrides it was
  // run with unless others are given.
  std::string grid_file = command_line.positional[0];
  fs::path out_dir = command_line.values.count("out") ? command_line.get<std::string>("out") : "";
  std::error_code ec;
  if (status_only && fs::is_directory(grid_file, ec)) {
    out_dir = grid_file;
    grid_file = (out_dir / "grid.ini").string();
    if (!fs::exists(grid_file, ec))
      throw Error(fmt::format("--status: '{}' holds no grid.ini; give the --out directory of a piade compare",
                              out_dir.string()));
    if (overrides.seeds.empty() && overrides.classes.empty() && overrides.set.empty())
      overrides = read_overrides(out_dir / "compare.json");
  }
  if (out_dir.empty() && !list_only) throw Error("--out DIR is required");
  const int threads = command_line.get<int>("threads");
  int jobs = command_line.get<int>("jobs");
  if (threads < 1) throw Error(fmt::format("--threads: must be at least 1, got {}", threads));
  if (jobs < 1) throw Error(fmt::format("--jobs: must be at least 1, got {}", jobs));
  if (slurm && command_line.get<int>("slurm-cpus") < 1)
    throw Error(fmt::format("--slurm-cpus: must be at least 1, got {}", command_line.get<int>("slurm-cpus")));
  const std::string device = command_line.get<std::string>("device");
  if (!slurm) {
    parse_device(device);
  } else if (device != "auto") {
    // The runs use the compute nodes' devices: a login node without a GPU
    // still submits `--device cuda`, so only the name is checked here.
    bool known = false;
    try {
      const torch::Device named(device);
      known = named.is_cpu() || named.is_cuda();
    } catch (const std::exception&) {
    }
    if (!known) throw Error(fmt::format("--device: '{}' is not a device; use cpu, cuda, cuda:N or auto", device));
  }

  // Everything is checked before anything runs.
  const CommandTables tables = command_tables();
  const Grid grid = read_grid(grid_file, overrides, tables);
  const PluginRegistry registry = load_plugins(command_line);
  const std::vector<RunSpec> all_runs = expand_grid(grid, registry, tables);
  const Comparison comparison = comparison_of(grid, all_runs);
  std::string shard_text;
  std::vector<RunSpec> runs = all_runs;
  if (command_line.values.count("shard")) {
    const auto [k, n] = parse_shard(command_line.get<std::string>("shard"));
    runs = shard_of(all_runs, k, n);
    shard_text = fmt::format("{}/{}", k, n);
  }
  if (!only_run.empty()) {
    const auto found = std::find_if(all_runs.begin(), all_runs.end(),
                                    [&](const RunSpec& run) { return run.run_id == only_run; });
    if (found == all_runs.end())
      throw Error(fmt::format("--run: no run '{}' in the grid {} (see --list)", only_run, grid_file));
    runs = {*found};
  }

  JobContext context;
  context.out_dir = out_dir.empty() ? fs::path(".") : out_dir;
  context.piade = fs::read_symlink("/proc/self/exe");
  jobs = std::min<int>(jobs, static_cast<int>(std::max<std::size_t>(1, runs.size())));
  context.threads = std::max(1, threads / jobs);
  context.common_args = {"--device", command_line.get<std::string>("device")};
  // The dataset keys eval takes (it has no use for --max-train).
  const po::options_description eval_keys = command_spec("eval").all_options();
  for (const auto& option : tables.dataset.options())
    if (eval_keys.find_nothrow(option->long_name(), false)) context.dataset_keys.push_back(option->long_name());
  if (command_line.values.count("plugin-dir"))
    for (const std::string& dir : command_line.get<std::vector<std::string>>("plugin-dir"))
      context.common_args.insert(context.common_args.end(), {"--plugin-dir", fs::absolute(dir).string()});

  if (status_only) return print_status(context, runs);

  // --list only reads and takes no lock. Otherwise this process, and each
  // run it starts, owns the directory from here on, before the runs' states
  // are read; temporary files left in it are then no one's. A --run (a
  // Slurm array task) shares it with the other tasks, each in its own run
  // folder, and removes nothing: on another node a live writer's temporary
  // file would look like a dead one's.
  std::unique_ptr<DirectoryLock> lock;
  if (!list_only) {
    lock = std::make_unique<DirectoryLock>(context.out_dir, holder_command("compare", raw_args),
                                           only_run.empty() ? DirectoryLock::Mode::exclusive
                                                            : DirectoryLock::Mode::shared);
    context.lock_fd = lock->fd();
    if (only_run.empty())
      if (const std::size_t removed = remove_compare_leftovers(context.out_dir))
        spdlog::info("compare: removed {} left by an earlier run that was killed",
                     count_of(int64_t(removed), "temporary file"));
  }

  // Each run's state is read once (result.json, the checkpoint's metadata)
  // and handed to its job.
  std::vector<std::size_t> todo;
  std::vector<RunState> states;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunState state = states.emplace_back(run_state(context, runs[i]));
    if (list_only)
      fmt::print("{:>4} {:<12} {}  {}\n", runs[i].index + 1, state_name(state), runs[i].run_id,
                 (context.out_dir / "runs" / runs[i].run_id).string());
    if (state != RunState::finished) todo.push_back(i);
  }
  if (list_only) {
    fmt::print("{} ({} x {} x {}{}), {} to do\n", count_of(int64_t(runs.size()), "run"),
               count_of(int64_t(comparison.configs.size()), "configuration"),
               count_of(int64_t(comparison.classes.size()), "class", "classes"),
               count_of(int64_t(comparison.seeds.size()), "seed"),
               shard_text.empty() ? "" : ", shard " + shard_text, todo.size());
    return 0;
  }

  // The grid's copy (and the overrides) is what --status, the Slurm tasks
  // and their merge read; a --run or --tables-only reads it already.
  if (only_run.empty() && !tables_only) {
    fs::create_directories(context.out_dir);
    std::ifstream grid_in(grid_file);
    write_file_atomic(context.out_dir / "grid.ini", std::string(std::istreambuf_iterator<char>(grid_in), {}));
    write_file_atomic(context.out_dir / "compare.json", overrides_text(overrides));
    // A relative reference file goes beside the copy, where its path from
    // the copy's folder finds it (read_grid refuses one above the grid).
    if (!grid.reference_file.empty() && fs::path(grid.reference_file).is_relative()) {
      const fs::path from = fs::path(grid_file).parent_path() / grid.reference_file;
      const fs::path to = context.out_dir / grid.reference_file;
      if (fs::weakly_canonical(from) != fs::weakly_canonical(to)) {
        std::ifstream reference_in(from, std::ios::binary);
        fs::create_directories(to.parent_path());
        write_file_atomic(to, std::string(std::istreambuf_iterator<char>(reference_in), {}));
      }
    }
  }
  if (slurm) {
    std::vector<std::string> todo_ids;
    for (const std::size_t i : todo) todo_ids.push_back(runs[i].run_id);
    return submit_to_slurm(command_line, context, grid, overrides, todo_ids, runs.size(), lock);
  }
  if (tables_only) todo.clear();
  spdlog::info("compare: {}{} ({} finished before), {} at once with {} each, in {}",
             count_of(int64_t(runs.size()), "run"), shard_text.empty() ? "" : " in shard " + shard_text, runs.size() - todo.size(), jobs,
             count_of(context.threads, "thread"), context.out_dir.string());
  std::mutex mutex;
  std::size_t done = runs.size() - todo.size(), done_now = 0, running = 0;
  std::vector<std::string> failures;
  const auto start = std::chrono::steady_clock::now();
  {
    InterruptForwarding forwarding;
    run_parallel(todo.size(), jobs, [&](std::size_t t) {
      const RunSpec& run = runs[todo[t]];
      const RunState state = states[todo[t]];
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++running;
        spdlog::info("compare: start {} ({}){}", run.run_id, run.config,
                   state == RunState::pending ? "" : fmt::format(", {} before", state_name(state)));
      }
      const auto run_start = std::chrono::steady_clock::now();
      JobOutcome outcome;
      {
        // Held while the run goes on: `--status` shows it as running.
        const RunLock run_lock(run_folder(context, run));
        outcome = run_job(context, run, state);
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
      std::lock_guard<std::mutex> lock(mutex);
      --running;
      if (outcome.status == JobOutcome::Status::interrupted) return;
      ++done;
      ++done_now;
      std::string what;
      if (outcome.status == JobOutcome::Status::failed) {
        failures.push_back(fmt::format("{}: {}", run.run_id, outcome.message));
        what = "FAILED: " + outcome.message;
      } else {
        const auto metric = outcome.result.metrics.find(grid.metric);
        what = metric == outcome.result.metrics.end() ? "done"
                                                      : fmt::format("{} {:.4f}", grid.metric, metric->second);
      }
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double eta = elapsed / static_cast<double>(done_now) * static_cast<double>(runs.size() - done);
      spdlog::info("[{}/{}] {}: {} in {:.0f} s | {} running, {} failed | elapsed {}, ETA {}", done,
                 runs.size(), run.run_id, what, seconds, running, failures.size(), clock_text(elapsed),
                 clock_text(eta));
    });
  }

  if (!only_run.empty()) {
    // The merge job writes the tables once every task has ended.
    if (interrupted()) return 130;
    if (!failures.empty()) throw Error("run failed: " + failures.front());
    fmt::print("run {} finished in {}\n", only_run, run_folder(context, runs.front()).string());
    return 0;
  }

  ResultsFile results;
  results.comparison = comparison;
  results.grid_hash = grid_hash(grid, all_runs);
  results.shard = shard_text;
  results.runs_in_grid = static_cast<int>(all_runs.size());
  for (const RunSpec& run : runs)
    if (auto result = finished_result(context, run)) results.runs.push_back(*result);
  write_results(context.out_dir, results);
  std::ifstream summary(context.out_dir / "summary.md");
  fmt::print("{}\n", std::string(std::istreambuf_iterator<char>(summary), {}));
  fmt::print("results: {} ({} of {} runs)\nreport: {}\n", (context.out_dir / "results.csv").string(),
             results.runs.size(), runs.size(), (context.out_dir / "report.html").string());
  if (interrupted()) {
    warn(fmt::format("interrupted: {} of {} runs finished; run the same command again to continue",
                     results.runs.size(), runs.size()));
    return 130;
  }
  if (!failures.empty()) {
    for (const std::string& failure : failures) warn("run failed: " + failure);
    return 1;
  }
  if (tables_only && results.runs.size() < runs.size())
    throw Error(fmt::format("--tables-only: {} of {} did not finish; see piade compare {} --status",
                            runs.size() - results.runs.size(), count_of(int64_t(runs.size()), "run"),
                            context.out_dir.string()));
  return 0;
}

}  // namespace piade
