// `piade compare GRID --out DIR`: runs every configuration x class x seed of
// a grid file (piade/compare/grid.h), each as `piade train` + `piade
// eval` in its own folder, resumably, several at once, or one shard of
// them; then writes the tables. `piade compare merge` joins shards.
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "piade/compare/dir_lock.h"
#include "piade/compare/grid.h"
#include "piade/compare/job.h"
#include "piade/compare/results.h"
#include "piade/compare/runner.h"
#include "piade/core/checkpoint.h"
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
       "list the runs and their state; run nothing");
  return options;
}

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
  if (!command_line.values.count("out") && !list_only) throw Error("--out DIR is required");
  if (command_line.values.count("seeds")) overrides.seeds = command_line.get<std::string>("seeds");
  if (command_line.values.count("classes")) overrides.classes = command_line.get<std::string>("classes");
  const int threads = command_line.get<int>("threads");
  int jobs = command_line.get<int>("jobs");
  if (threads < 1) throw Error(fmt::format("--threads: must be at least 1, got {}", threads));
  if (jobs < 1) throw Error(fmt::format("--jobs: must be at least 1, got {}", jobs));
  parse_device(command_line.get<std::string>("device"));

  // Everything is checked before anything runs.
  const std::string grid_file = command_line.positional[0];
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

  JobContext context;
  context.out_dir = command_line.values.count("out") ? command_line.get<std::string>("out") : ".";
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

  // --list only reads and takes no lock. Otherwise this process, and each
  // run it starts, owns the directory from here on, before the runs' states
  // are read; temporary files left in it are then no one's.
  std::unique_ptr<DirectoryLock> lock;
  if (!list_only) {
    lock = std::make_unique<DirectoryLock>(context.out_dir, holder_command("compare", raw_args));
    context.lock_fd = lock->fd();
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

  fs::create_directories(context.out_dir);
  std::ifstream grid_in(grid_file);
  write_file_atomic(context.out_dir / "grid.ini", std::string(std::istreambuf_iterator<char>(grid_in), {}));
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
      const JobOutcome outcome = run_job(context, run, state);
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
  return 0;
}

}  // namespace piade
