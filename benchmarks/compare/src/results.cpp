#include "piade/compare/results.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "piade/compare/job.h"
#include "piade/compare/report.h"
#include "piade/compare/summary.h"
#include "piade/core/checkpoint.h"
#include "piade/core/csv.h"
#include "piade/core/error.h"
#include "piade/sdk/json_depth.h"

namespace piade::compare {
namespace {

constexpr const char* kResultsFormat = "piade-compare-results-1";

nlohmann::json comparison_to_json(const Comparison& comparison) {
  nlohmann::json json = {{"title", comparison.title},     {"axes", comparison.axes},   {"configs", comparison.configs},
                         {"classes", comparison.classes}, {"seeds", comparison.seeds}, {"metric", comparison.metric}};
  // Only with a reference file: results of grids without one stay as they were.
  if (!comparison.reference.empty()) {
    nlohmann::json rows = nlohmann::json::array();
    for (const ReferenceValue& row : comparison.reference)
      rows.push_back({{"class", row.normal_class}, {"metric", row.metric}, {"value", row.value}, {"source", row.source}});
    json["reference_file"] = comparison.reference_file;
    json["reference"] = rows;
  }
  return json;
}

Comparison comparison_from_json(const nlohmann::json& json) {
  Comparison comparison;
  comparison.title = json.at("title").get<std::string>();
  comparison.axes = json.at("axes").get<std::vector<std::string>>();
  comparison.configs = json.at("configs").get<std::vector<std::string>>();
  comparison.classes = json.at("classes").get<std::vector<std::string>>();
  comparison.seeds = json.at("seeds").get<std::vector<uint64_t>>();
  comparison.metric = json.at("metric").get<std::string>();
  if (json.contains("reference")) {
    comparison.reference_file = json.at("reference_file").get<std::string>();
    for (const nlohmann::json& row : json.at("reference"))
      comparison.reference.push_back({row.at("class").get<std::string>(), row.at("metric").get<std::string>(),
                                      row.at("value").get<double>(), row.at("source").get<std::string>()});
  }
  return comparison;
}

bool same_comparison(const Comparison& a, const Comparison& b) {
  return a.axes == b.axes && a.configs == b.configs && a.classes == b.classes && a.seeds == b.seeds &&
         a.metric == b.metric;
}

// The published values a comparison shows beside its own (a grid's
// reference file, read when each shard ran: it may have been edited between
// shards, which the grid's hash does not see).
bool same_reference(const Comparison& a, const Comparison& b) {
  return std::equal(a.reference.begin(), a.reference.end(), b.reference.begin(), b.reference.end(),
                    [](const ReferenceValue& x, const ReferenceValue& y) {
                      return x.normal_class == y.normal_class && x.metric == y.metric && x.value == y.value &&
                             x.source == y.source;
                    });
}

// Grid order: class, then seed, then configuration, as expand_grid.
void sort_in_grid_order(std::vector<RunResult>& runs, const Comparison& comparison) {
  auto position = [](const auto& list, const auto& item) {
    return std::find(list.begin(), list.end(), item) - list.begin();
  };
  std::stable_sort(runs.begin(), runs.end(), [&](const RunResult& a, const RunResult& b) {
    return std::make_tuple(position(comparison.classes, a.normal_class), position(comparison.seeds, a.seed),
                           position(comparison.configs, a.config)) <
           std::make_tuple(position(comparison.classes, b.normal_class), position(comparison.seeds, b.seed),
                           position(comparison.configs, b.config));
  });
}

// Copies a run folder whole or not at all: into a temporary name, then renamed.
void copy_run_folder(const fs::path& from, const fs::path& to) {
  if (fs::exists(to / "result.json")) return;
  const fs::path temporary = to.parent_path() / (".partial-" + to.filename().string());
  fs::remove_all(temporary);
  fs::create_directories(to.parent_path());
  try {
    fs::copy(from, temporary, fs::copy_options::recursive | fs::copy_options::create_hard_links);
  } catch (const fs::filesystem_error&) {
    fs::remove_all(temporary);  // another file system: copy the bytes
    fs::copy(from, temporary, fs::copy_options::recursive);
  }
  fs::remove_all(to);
  fs::rename(temporary, to);
}

}  // namespace

std::string results_csv(const ResultsFile& results) {
  std::vector<std::string> metrics = {results.comparison.metric};
  std::set<std::string> others;
  for (const RunResult& run : results.runs)
    for (const auto& [name, value] : run.metrics)
      if (name != results.comparison.metric) others.insert(name);
  metrics.insert(metrics.end(), others.begin(), others.end());

  std::string text = "run_id,config";
  for (const std::string& axis : results.comparison.axes) text += "," + csv_field(axis);
  text += ",class,seed";
  for (const std::string& metric : metrics) text += "," + csv_field(metric);
  text += ",train_seconds,eval_seconds,train_images_per_second,hash,folder\n";
  for (const RunResult& run : results.runs) {
    text += csv_field(run.run_id) + "," + csv_field(run.config);
    for (const std::string& axis : results.comparison.axes) {
      const auto value = std::find_if(run.axis_values.begin(), run.axis_values.end(),
                                      [&](const auto& pair) { return pair.first == axis; });
      text += "," + (value == run.axis_values.end() ? std::string() : csv_field(value->second));
    }
    text += fmt::format(",{},{}", csv_field(run.normal_class), run.seed);
    for (const std::string& metric : metrics) {
      const auto value = run.metrics.find(metric);
      text += value == run.metrics.end() ? "," : fmt::format(",{:.10g}", value->second);
    }
    text += fmt::format(",{:.3f},{:.3f},{:.3f},{},{}\n", run.train_seconds, run.eval_seconds,
                        run.train_images_per_second, run.hash, csv_field(run.folder));
  }
  return text;
}

void write_results(const fs::path& dir, const ResultsFile& results) {
  fs::create_directories(dir);
  nlohmann::json runs = nlohmann::json::array();
  for (const RunResult& run : results.runs) runs.push_back(result_to_json(run));
  // One computed summary behind summary.md, report.html and results.json.
  const Summary summary = summarize(results.comparison, results.runs);
  const nlohmann::json json = {{"format", kResultsFormat},
                               {"grid_hash", results.grid_hash},
                               {"shard", results.shard},
                               {"runs_in_grid", results.runs_in_grid},
                               {"comparison", comparison_to_json(results.comparison)},
                               {"summary", summary_to_json(summary)},
                               {"runs", runs}};
  write_file_atomic(dir / "results.csv", results_csv(results));
  write_file_atomic(dir / "summary.md", summary_markdown(results.comparison, summary));
  write_file_atomic(dir / "report.html", report_html(results.comparison, summary, results.runs, dir));
  // Last: what merge and a later compare read.
  write_file_atomic(dir / "results.json", json.dump(2) + "\n");
}

ResultsFile read_results(const fs::path& dir) {
  const fs::path file = dir / "results.json";
  std::ifstream in(file);
  if (!in) throw Error(fmt::format("{}: no results.json; is it the --out of piade compare?", dir.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (const std::string problem = json_depth_problem(text.str()); !problem.empty())
    throw Error(fmt::format("{}: {}", file.string(), problem));
  try {
    const nlohmann::json json = nlohmann::json::parse(text.str());
    if (json.at("format") != kResultsFormat)
      throw Error(fmt::format("{}: format {} is not {}", file.string(), json.at("format").dump(), kResultsFormat));
    ResultsFile results;
    results.comparison = comparison_from_json(json.at("comparison"));
    results.grid_hash = json.at("grid_hash").get<std::string>();
    results.shard = json.at("shard").get<std::string>();
    results.runs_in_grid = json.at("runs_in_grid").get<int>();
    for (const nlohmann::json& run : json.at("runs")) results.runs.push_back(result_from_json(run, file.string()));
    return results;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a results file: {}", file.string(), e.what()));
  }
}

ResultsFile merge_results(const std::vector<fs::path>& inputs, const fs::path& out) {
  if (inputs.empty()) throw Error("merge: give the output directories of the shards to merge");
  ResultsFile merged;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const ResultsFile part = read_results(inputs[i]);
    if (i == 0) {
      merged.comparison = part.comparison;
      merged.grid_hash = part.grid_hash;
      merged.runs_in_grid = part.runs_in_grid;
    } else if (part.grid_hash != merged.grid_hash || !same_comparison(part.comparison, merged.comparison)) {
      throw Error(fmt::format("merge: {} holds runs of another grid (grid hash {}, not {} as {}); merge shards of "
                              "one grid with the same settings",
                              inputs[i].string(), part.grid_hash, merged.grid_hash, inputs[0].string()));
    } else if (!same_reference(part.comparison, merged.comparison)) {
      throw Error(fmt::format("merge: {} shows other published values ({} rows from '{}') than {} ({} rows from "
                              "'{}'): the reference file changed between shards; run each shard again (its "
                              "finished runs are skipped), so that all read the same file",
                              inputs[i].string(), part.comparison.reference.size(),
                              part.comparison.reference_file, inputs[0].string(),
                              merged.comparison.reference.size(), merged.comparison.reference_file));
    }
    for (const RunResult& run : part.runs) {
      if (!seen.insert(run.hash).second) continue;  // the same run in two shards
      const fs::path from = inputs[i] / run.folder;
      if (fs::weakly_canonical(from) != fs::weakly_canonical(out / run.folder)) copy_run_folder(from, out / run.folder);
      merged.runs.push_back(run);
    }
  }
  sort_in_grid_order(merged.runs, merged.comparison);
  write_results(out, merged);
  return merged;
}

}  // namespace piade::compare
