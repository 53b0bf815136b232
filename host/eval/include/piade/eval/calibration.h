// Choosing the decision threshold on an evaluation (`piade eval
// --calibrate`): the F1-max threshold, the one maximising TPR + TNR (the
// paper's MVTec measure, sec. 4.3), or a percentile of the normal test
// images' scores. The checkpoint stores the choice with what it was chosen
// on (checkpoint.h, update_checkpoint_meta); `score > threshold` is the
// decision everywhere.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "piade/core/checkpoint.h"
#include "piade/eval/metrics.h"

namespace piade {

/// How a threshold is chosen.
struct ThresholdMethod {
  enum Kind { f1, balanced, percentile } kind = f1;
  double percent = 0;  ///< for `percentile`, in (0, 100]
  /// "f1", "balanced", "percentile:P" (as parse_threshold_method reads it).
  std::string text() const;
};

/// Reads "f1", "balanced" or "percentile:P" (0 < P <= 100). Throws
/// piade::Error with the choices (and a suggestion) for anything else.
ThresholdMethod parse_threshold_method(const std::string& text);

/// A chosen threshold and the decisions it makes on the data it was chosen on.
struct Calibration {
  ThresholdMethod method;
  /// What the checkpoint stores. For f1 and balanced it is the next double
  /// below the metric's threshold: the metrics count `score >= t` as
  /// anomalous, piade decides `score > threshold`, and this keeps the
  /// decisions (and so the F1 and TPR + TNR) those the metric counted.
  double threshold = 0;
  double metric_threshold = 0;  ///< the metric's own threshold (= threshold for percentiles)
  double tpr = 0, tnr = 0;      ///< of `score > threshold` on the scores given
};

/// Chooses the threshold by `method` from an evaluation's scores, labels
/// (1 anomalous) and image metrics of them. The percentile is over the
/// normal images' scores (score_percentile, nearest rank). Throws
/// piade::Error when the method needs a class that is missing.
Calibration calibrate_threshold(const ThresholdMethod& method, const ImageMetrics& metrics,
                                const std::vector<double>& scores, const std::vector<int>& labels);

/// TPR and TNR of the decision `score > threshold` (NaN for a missing class).
std::pair<double, double> decision_rates(const std::vector<double>& scores, const std::vector<int>& labels,
                                         double threshold);

/// What the checkpoint records under "calibration": threshold, method,
/// rule (in words), metric_threshold, data (the dataset's description),
/// dataset, n_normal, n_anomalous, tpr, tnr, time (UTC, ISO 8601), and the
/// threshold it replaces (previous_threshold, previous_method).
nlohmann::json calibration_record(const Calibration& calibration, const std::string& data_description,
                                  const std::string& dataset, int64_t n_normal, int64_t n_anomalous,
                                  const std::string& time, const StoredThreshold& previous);

/// The current time as UTC ISO 8601, "2026-11-30T13:40:02Z".
std::string utc_time_now();

}  // namespace piade
