// The statistics of a comparison (per class and overall mean and spread over
// seeds; each configuration's paired difference against the baseline) and
// their Markdown rendering, summary.md.
#pragma once

#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "piade/compare/run_result.h"

namespace piade::compare {

constexpr double kNotAvailable = std::numeric_limits<double>::quiet_NaN();

/// Mean and sample standard deviation of n values (std NaN when n < 2).
struct MeanStd {
  double mean = kNotAvailable;
  double std = kNotAvailable;
  int n = 0;
};

/// What a configuration's paired difference says, in one place for every
/// rendering (summary.md, report.html, results.json).
enum class Verdict {
  baseline,             ///< the baseline itself
  no_pairs,             ///< no (class, seed) where both have a result
  too_few_pairs,        ///< one pair: no interval
  better,               ///< the whole 95% interval above zero
  worse,                ///< the whole 95% interval below zero
  no_clear_difference,  ///< the interval holds zero
};

/// The verdict in plain words ("better than baseline", "too few pairs", ...).
const char* verdict_text(Verdict verdict);

/// A configuration against the baseline, paired over (class, seed): the
/// units where both have a result. d_i = value(config) - value(baseline).
struct PairedDifference {
  int n = 0;                          ///< pairs
  double mean = kNotAvailable;        ///< mean of d_i
  double ci_low = kNotAvailable;      ///< 95% Student-t interval of the mean (n >= 2)
  double ci_high = kNotAvailable;
  int wins = 0, losses = 0, ties = 0; ///< d_i > 0, < 0, == 0
  double sign_p = kNotAvailable;      ///< exact two-sided sign test, ties dropped (1 when no untied pair)
  Verdict verdict = Verdict::no_pairs;  ///< from n and the interval
};

struct ConfigSummary {
  std::string config;
  /// Every class of the grid: over seeds (n == 0, NaN when it has no run).
  std::map<std::string, MeanStd> per_class;
  /// Mean over all of the configuration's runs (n: their number); std over
  /// seeds of the per-seed mean over classes, for every seed with at least
  /// one run (a seed missing a class averages the classes it has; NaN with
  /// fewer than two such seeds).
  MeanStd overall;
  PairedDifference vs_baseline;  ///< n == 0 for the baseline itself
  double train_images_per_second = kNotAvailable;  ///< mean over runs; NaN with none
  double train_seconds = kNotAvailable;            ///< total over runs; NaN with none
};

/// One configuration against the published numbers of one metric.
struct ConfigVsReference {
  std::string config;
  /// The metric over seeds, for each class of ReferenceSummary::classes.
  std::map<std::string, MeanStd> per_class;
  /// Mean over ReferenceSummary::mean_classes of the per-class means; NaN
  /// when one of them has no run (the mean would cover other classes than
  /// the published one).
  double mean = kNotAvailable;
};

/// The published numbers of one metric (a grid's reference file) beside
/// every configuration's.
struct ReferenceSummary {
  std::string metric;
  std::string file;  ///< the reference file as the grid names it
  /// The grid's classes that have a published value, in grid order.
  std::vector<std::string> classes;
  std::map<std::string, double> published;     ///< per class of `classes`
  std::map<std::string, std::string> sources;  ///< per class, and kReferenceMean
  /// The published mean the mean row shows: over `classes` when the grid
  /// has classes with a published value, else the file's mean row (NaN
  /// without one).
  double published_mean = kNotAvailable;
  bool mean_is_stated = false;             ///< published_mean is the file's mean row
  double stated_mean = kNotAvailable;      ///< the file's mean row, NaN without one
  std::vector<std::string> mean_classes;   ///< what the mean row averages over
  std::vector<ConfigVsReference> configs;  ///< in grid order
};

struct Summary {
  std::string metric;
  std::string baseline;
  std::vector<std::string> classes;
  std::vector<ConfigSummary> configs;  ///< in grid order, baseline first
  /// Per class (and "" for overall) the configuration with the best mean,
  /// the first in grid order on a tie; absent where no configuration has one.
  std::map<std::string, std::string> best;
  int runs_expected = 0;  ///< configs x classes x seeds
  int runs_found = 0;     ///< results given
  /// Per metric of the reference file (the grid's metric first, then in
  /// file order): empty without one.
  std::vector<ReferenceSummary> reference;
};

/// Exact two-sided sign test: P(X <= min(wins, losses)) * 2, capped at 1,
/// for X ~ Binomial(wins + losses, 1/2); 1 when wins + losses == 0.
double sign_test_p(int wins, int losses);

/// Paired differences `values - baseline` (same length, same order, finite;
/// piade::Error otherwise). The interval is mean ± t(0.975, n - 1) sd/sqrt(n).
PairedDifference paired_difference(const std::vector<double>& values, const std::vector<double>& baseline);

/// The comparison's statistics for `comparison.metric`. Results of
/// configurations, classes or seeds not in `comparison`, two results for one
/// (configuration, class, seed) and a result lacking the metric are errors
/// (piade::Error); missing ones only lower runs_found and the n's. A metric
/// value that is not finite (NaN) counts as missing in the statistics (but
/// not in runs_found or the training figures).
Summary summarize(const Comparison& comparison, const std::vector<RunResult>& results);

/// The summary as results.json stores it: per configuration the overall and
/// per-class mean/std/n, the paired difference with its verdict (as
/// verdict_text), the best configuration per column, and the reference
/// tables (published value, each configuration's, and the difference).
nlohmann::json summary_to_json(const Summary& summary);

/// summary.md: the tables, with the best mean per column in bold and each
/// configuration's difference against the baseline with its interval, its
/// sign test and a plain-words reading; with a reference file, a table per
/// metric of the published value per class and each configuration's value
/// and difference (piade − published), with the mean over classes.
std::string summary_markdown(const Comparison& comparison, const Summary& summary);

}  // namespace piade::compare
