// What one finished run of a comparison grid left behind, and how the grid
// says runs are to be compared: the data that results.csv/json, summary.md
// and report.html are all made from.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace piade::compare {

/// One run: a configuration of the grid, trained with one class as normal
/// and one seed, then evaluated.
struct RunResult {
  std::string run_id;  ///< its folder's name under runs/
  std::string hash;    ///< 16 hex digits of its full configuration
  /// The configuration's label, its axis values joined with spaces, e.g.
  /// "routing.vectors=1 backbone=resnet18"; the same for every class and seed.
  std::string config;
  /// (axis, value) in the grid's axis order.
  std::vector<std::pair<std::string, std::string>> axis_values;
  std::string normal_class;  ///< the normal class or category; "" when the dataset has none
  uint64_t seed = 0;
  /// Every number in the run's eval/metrics.json (image_auroc, aupr,
  /// best_tpr, ..., pixel_auroc and pro_auc with masks).
  std::map<std::string, double> metrics;
  double train_seconds = 0;             ///< wall time of `piade train`
  double eval_seconds = 0;              ///< wall time of `piade eval`
  double train_images_per_second = 0;   ///< training images x epochs / training time
  /// The run's folder relative to the comparison's output directory
  /// ("runs/<run_id>"): eval/roc.csv, eval/pictures/*.png, train/, log.txt.
  std::string folder;
};

/// A published number to set beside piade's: one row of a grid's
/// reference file (`reference = FILE` in [compare], reference.h).
struct ReferenceValue {
  /// A class of the grid's dataset, or kReferenceMean for the published
  /// mean over classes (a paper that gives only the mean, as COIL-100's).
  std::string normal_class;
  std::string metric;  ///< a metric eval writes (image_auroc, best_tnr, ...)
  double value = 0;    ///< in [0, 1]
  std::string source;  ///< where it is published ("Table 2"); may be ""
};

/// The class name of a reference row that holds the mean over classes.
inline constexpr const char* kReferenceMean = "mean";

/// How a grid's runs are compared.
struct Comparison {
  std::string title;               ///< the grid file's name
  std::vector<std::string> axes;   ///< axis names in file order
  /// Configuration labels in grid order; configs[0] is the baseline every
  /// other configuration is paired against.
  std::vector<std::string> configs;
  std::vector<std::string> classes;  ///< in grid order; {""} when the dataset has none
  std::vector<uint64_t> seeds;
  std::string metric = "image_auroc";  ///< the metric summary.md compares (higher is better)
  /// The published numbers the summary sets beside the runs' (none without
  /// a reference file), and that file's name as the grid gives it.
  std::vector<ReferenceValue> reference;
  std::string reference_file;
};

}  // namespace piade::compare
