#include "piade/compare/job.h"

#include <algorithm>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "piade/compare/dir_lock.h"
#include "piade/compare/runner.h"
#include "piade/core/checkpoint.h"
#include "piade/core/error.h"
#include "piade/sdk/json_depth.h"

namespace piade::compare {
namespace {

constexpr const char* kResultFormat = "piade-compare-run-1";

std::optional<nlohmann::json> read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  // Too deep to be a result piade wrote: treated as unreadable, as bad json is.
  if (!json_depth_problem(text.str()).empty()) return std::nullopt;
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void append_log(const fs::path& log, const std::string& text) { std::ofstream(log, std::ios::app) << text; }

// The last `count` non-empty lines of a text file.
std::string last_lines(const fs::path& file, std::size_t count) {
  std::ifstream in(file);
  std::vector<std::string> kept;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    kept.push_back(line);
    if (kept.size() > count) kept.erase(kept.begin());
  }
  std::string text;
  for (const std::string& line : kept) text += line + "\n";
  return text;
}

std::string config_ini(const RunSpec& run) {
  std::string text = fmt::format(
      "# piade compare run {}: {} | class {} | seed {}\n# hash {}\n"
      "# rerun by hand: piade train --config config.ini --out train\n",
      run.run_id, run.config, run.normal_class.empty() ? "-" : run.normal_class, run.seed, run.hash);
  for (const auto& [key, value] : run.train) text += fmt::format("{} = {}\n", key, value);
  return text;
}

std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

// The training part of the result, from the files training leaves: the
// per-epoch log times the epochs (resumed ones included), the checkpoint
// the number of training images.
void read_training(const fs::path& train_dir, RunResult& result) {
  std::ifstream log(train_dir / "train_log.csv");
  std::string line;
  std::getline(log, line);
  const auto seconds_column = std::count(line.begin(), line.end(), ',');
  double seconds = 0;
  int epochs = 0;
  while (std::getline(log, line)) {
    std::stringstream row(line);
    std::string field;
    for (int column = 0; std::getline(row, field, ','); ++column)
      if (column == seconds_column) seconds += std::strtod(field.c_str(), nullptr);
    ++epochs;
  }
  const nlohmann::json meta = read_checkpoint_meta(train_dir / "checkpoint.pt");
  const double images = meta.value("dataset", nlohmann::json::object()).value("train_images", 0.0);
  result.train_seconds = seconds;
  result.train_images_per_second = seconds > 0 ? images * epochs / seconds : 0;
}

}  // namespace

const char* state_name(RunState state) {
  switch (state) {
    case RunState::pending: return "pending";
    case RunState::interrupted: return "interrupted";
    case RunState::trained: return "trained";
    case RunState::finished: return "finished";
  }
  return "?";
}

fs::path run_folder(const JobContext& context, const RunSpec& run) { return context.out_dir / "runs" / run.run_id; }

fs::path failure_file(const JobContext& context, const RunSpec& run) { return run_folder(context, run) / "failed.txt"; }

const char* progress_name(RunProgress::Kind kind) {
  switch (kind) {
    case RunProgress::Kind::done: return "done";
    case RunProgress::Kind::running: return "running";
    case RunProgress::Kind::failed: return "failed";
    case RunProgress::Kind::pending: return "pending";
  }
  return "?";
}

RunProgress run_progress(const JobContext& context, const RunSpec& run) {
  RunProgress progress;
  progress.state = run_state(context, run);
  if (progress.state == RunState::finished) {
    progress.kind = RunProgress::Kind::done;
  } else if (RunLock::held(run_folder(context, run))) {
    progress.kind = RunProgress::Kind::running;
  } else if (fs::exists(failure_file(context, run))) {
    progress.kind = RunProgress::Kind::failed;
    std::ifstream in(failure_file(context, run));
    progress.failure.assign(std::istreambuf_iterator<char>(in), {});
  }
  return progress;
}

std::optional<RunResult> finished_result(const JobContext& context, const RunSpec& run) {
  const fs::path file = run_folder(context, run) / "result.json";
  const std::optional<nlohmann::json> json = read_json(file);
  if (!json || json->value("hash", "") != run.hash) return std::nullopt;
  try {
    return result_from_json(*json, file.string());
  } catch (const Error&) {
    return std::nullopt;  // unreadable: the run is done again
  }
}

RunState run_state(const JobContext& context, const RunSpec& run) {
  if (finished_result(context, run)) return RunState::finished;
  const fs::path checkpoint = run_folder(context, run) / "train" / "checkpoint.pt";
  if (!fs::exists(checkpoint)) return RunState::pending;
  try {
    const nlohmann::json meta = read_checkpoint_meta(checkpoint);
    const nlohmann::json& training = meta.at("training");
    const bool complete = meta.contains("score_stats") &&
                          training.at("epochs_done").get<int64_t>() >= training.at("epochs").get<int64_t>();
    return complete ? RunState::trained : RunState::interrupted;
  } catch (const std::exception&) {
    return RunState::pending;  // not a checkpoint this version reads: train anew
  }
}

JobOutcome run_job(const JobContext& context, const RunSpec& run, RunState state) {
  JobOutcome outcome;
  const fs::path folder = run_folder(context, run);
  const fs::path log = folder / "log.txt";
  fs::create_directories(folder);
  write_file_atomic(folder / "config.ini", config_ini(run));
  // An earlier attempt's failure no longer describes the run.
  std::error_code ignored;
  fs::remove(failure_file(context, run), ignored);
  if (state == RunState::finished) {
    outcome.status = JobOutcome::Status::finished;
    outcome.result = *finished_result(context, run);
    return outcome;
  }
  auto step = [&](const char* name, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {context.piade.string(), name});
    argv.insert(argv.end(), {"--threads", std::to_string(context.threads)});
    argv.insert(argv.end(), context.common_args.begin(), context.common_args.end());
    // An interrupt that came as the previous step ended starts nothing more.
    if (interrupted()) {
      outcome.status = JobOutcome::Status::interrupted;
      return false;
    }
    append_log(log, fmt::format("\n== piade compare: {}\n$ {}\n", run.config, command_text(argv)));
    const int status = run_process(argv, log, context.lock_fd);
    if (status == 0) return true;
    if (interrupted() || status == 130) {
      outcome.status = JobOutcome::Status::interrupted;
    } else {
      outcome.status = JobOutcome::Status::failed;
      outcome.message = fmt::format("{} exited with status {}; see {}", name, status, log.string());
      write_file_atomic(failure_file(context, run), outcome.message + "\n" + last_lines(log, 5));
    }
    return false;
  };

  if (state != RunState::trained) {
    std::vector<std::string> argv = {"--out", (folder / "train").string(), "--progress=false"};
    // An interrupted run continues; anything else in the folder is the
    // remains of a failed attempt, which the new one replaces.
    argv.push_back(state == RunState::interrupted ? "--resume" : "--overwrite");
    for (const auto& [key, value] : run.train) argv.push_back("--" + key + "=" + value);
    if (!step("train", argv)) return outcome;
  }

  // Evaluation takes its data from the checkpoint; the dataset settings
  // that are not recorded there (--max-test, --skip-bad, ...) go along.
  // An earlier evaluation here describes an unfinished or older attempt.
  std::vector<std::string> argv = {"--checkpoint", (folder / "train").string(), "--out", (folder / "eval").string(),
                                   "--overwrite"};
  const std::vector<std::string>& data_keys = context.dataset_keys;
  for (const auto& [key, value] : run.train)
    if (key == "seed" || key == "device" || key == "plugin-dir" ||
        std::find(data_keys.begin(), data_keys.end(), key) != data_keys.end())
      argv.push_back("--" + key + "=" + value);
  for (const auto& [key, value] : run.eval) argv.push_back("--" + key + "=" + value);
  const auto eval_start = std::chrono::steady_clock::now();
  if (!step("eval", argv)) return outcome;

  RunResult& result = outcome.result;
  result.run_id = run.run_id;
  result.hash = run.hash;
  result.config = run.config;
  result.axis_values = run.axis_values;
  result.normal_class = run.normal_class;
  result.seed = run.seed;
  result.folder = (fs::path("runs") / run.run_id).string();
  result.eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
  const fs::path metrics_file = folder / "eval" / "metrics.json";
  const std::optional<nlohmann::json> metrics = read_json(metrics_file);
  if (!metrics || !metrics->is_object()) {
    outcome.status = JobOutcome::Status::failed;
    outcome.message = fmt::format("eval left no readable {}; see {}", metrics_file.string(), log.string());
    write_file_atomic(failure_file(context, run), outcome.message + "\n" + last_lines(log, 5));
    return outcome;
  }
  for (const auto& [key, value] : metrics->items())
    if (value.is_number()) result.metrics[key] = value.get<double>();
  read_training(folder / "train", result);
  nlohmann::json stored = result_to_json(result);
  stored["settings"] = run.train;
  stored["eval_settings"] = run.eval;
  // Written last: its presence makes the run finished.
  write_file_atomic(folder / "result.json", stored.dump(2) + "\n");
  outcome.status = JobOutcome::Status::finished;
  return outcome;
}

nlohmann::json result_to_json(const RunResult& result) {
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& [axis, value] : result.axis_values) axes.push_back({axis, value});
  return {{"format", kResultFormat},
          {"run_id", result.run_id},
          {"hash", result.hash},
          {"config", result.config},
          {"axis_values", axes},
          {"class", result.normal_class},
          {"seed", result.seed},
          {"metrics", result.metrics},
          {"train_seconds", result.train_seconds},
          {"eval_seconds", result.eval_seconds},
          {"train_images_per_second", result.train_images_per_second},
          {"folder", result.folder}};
}

RunResult result_from_json(const nlohmann::json& json, const std::string& source) {
  try {
    if (json.at("format") != kResultFormat)
      throw Error(fmt::format("{}: format '{}' is not {}", source, json.at("format").dump(), kResultFormat));
    RunResult result;
    result.run_id = json.at("run_id").get<std::string>();
    result.hash = json.at("hash").get<std::string>();
    result.config = json.at("config").get<std::string>();
    for (const auto& pair : json.at("axis_values"))
      result.axis_values.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
    result.normal_class = json.at("class").get<std::string>();
    result.seed = json.at("seed").get<uint64_t>();
    result.metrics = json.at("metrics").get<std::map<std::string, double>>();
    result.train_seconds = json.at("train_seconds").get<double>();
    result.eval_seconds = json.at("eval_seconds").get<double>();
    result.train_images_per_second = json.at("train_images_per_second").get<double>();
    result.folder = json.at("folder").get<std::string>();
    return result;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a run result: {}", source, e.what()));
  }
}

}  // namespace piade::compare
