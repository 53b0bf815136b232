// The tables of a comparison's output directory: results.csv (one row per
// run), results.json (the comparison and every run, what `merge` reads),
// summary.md and report.html, each written atomically.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "piade/compare/run_result.h"

namespace piade::compare {

/// What results.json holds.
struct ResultsFile {
  Comparison comparison;
  std::string grid_hash;  ///< the whole grid's, shared by its shards
  std::string shard;      ///< "k/n", or "" for the whole grid
  int runs_in_grid = 0;   ///< runs of the whole grid
  std::vector<RunResult> runs;  ///< finished runs, in grid order
};

/// One row per run: run_id, config, each axis, class, seed, every metric
/// any run has (image_auroc first), train_seconds, eval_seconds,
/// train_images_per_second, hash, folder.
std::string results_csv(const ResultsFile& results);

/// Writes results.csv, results.json, summary.md and report.html into `dir`.
void write_results(const std::filesystem::path& dir, const ResultsFile& results);

/// Reads DIR/results.json. Throws piade::Error naming the file.
ResultsFile read_results(const std::filesystem::path& dir);

/// `piade compare merge`: the shard outputs `inputs` (all of one grid, which
/// is checked) combined into `out`: their run folders copied (hard links
/// where the file system allows) and the tables written for all runs.
/// Returns the merged results. Throws piade::Error naming the directory
/// that does not belong.
ResultsFile merge_results(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out);

}  // namespace piade::compare
