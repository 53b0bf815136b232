#include "piade/eval/calibration.h"

#include <cmath>
#include <ctime>
#include <limits>

#include <fmt/format.h>

#include "piade/core/error.h"
#include "piade/core/scoring.h"

namespace piade {
namespace {

std::string percent_text(double percent) { return fmt::format("{}", percent); }

std::string rule_of(const ThresholdMethod& method) {
  switch (method.kind) {
    case ThresholdMethod::f1: return "the threshold of the highest F1";
    case ThresholdMethod::balanced: return "the threshold maximising TPR + TNR";
    case ThresholdMethod::percentile:
      return fmt::format("percentile {} of the normal images' scores", percent_text(method.percent));
  }
  return "";
}

}  // namespace

std::string ThresholdMethod::text() const {
  switch (kind) {
    case f1: return "f1";
    case balanced: return "balanced";
    case percentile: return "percentile:" + percent_text(percent);
  }
  return "";
}

ThresholdMethod parse_threshold_method(const std::string& text) {
  ThresholdMethod method;
  if (text == "f1") return method;
  if (text == "balanced") {
    method.kind = ThresholdMethod::balanced;
    return method;
  }
  const std::string prefix = "percentile:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string number = text.substr(prefix.size());
    std::size_t used = 0;
    double percent = std::nan("");
    try {
      percent = std::stod(number, &used);
    } catch (const std::exception&) {
    }
    if (used != number.size() || !(percent > 0 && percent <= 100))
      throw Error(fmt::format("'{}': the percentile must be a number in (0, 100], e.g. percentile:99", text));
    method.kind = ThresholdMethod::percentile;
    method.percent = percent;
    return method;
  }
  throw Error(fmt::format("'{}' is not a calibration method; use f1, balanced or percentile:P (0 < P <= 100){}", text,
                          did_you_mean(text, {"f1", "balanced", "percentile:99"})));
}

std::pair<double, double> decision_rates(const std::vector<double>& scores, const std::vector<int>& labels,
                                         double threshold) {
  int64_t tp = 0, tn = 0, p = 0, n = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool flagged = scores[i] > threshold;
    p += labels[i] == 1;
    n += labels[i] == 0;
    tp += labels[i] == 1 && flagged;
    tn += labels[i] == 0 && !flagged;
  }
  const double nan = std::nan("");
  return {p > 0 ? double(tp) / double(p) : nan, n > 0 ? double(tn) / double(n) : nan};
}

Calibration calibrate_threshold(const ThresholdMethod& method, const ImageMetrics& metrics,
                                const std::vector<double>& scores, const std::vector<int>& labels) {
  Calibration calibration;
  calibration.method = method;
  const double below = -std::numeric_limits<double>::infinity();
  switch (method.kind) {
    case ThresholdMethod::f1:
      calibration.metric_threshold = metrics.f1_threshold;
      calibration.threshold = std::nextafter(metrics.f1_threshold, below);
      break;
    case ThresholdMethod::balanced:
      calibration.metric_threshold = metrics.best_threshold;
      calibration.threshold = std::nextafter(metrics.best_threshold, below);
      break;
    case ThresholdMethod::percentile: {
      std::vector<double> normal;
      for (std::size_t i = 0; i < scores.size(); ++i)
        if (labels[i] == 0) normal.push_back(scores[i]);
      if (normal.empty()) throw Error("percentile calibration: the data has no normal images");
      calibration.metric_threshold = calibration.threshold = score_percentile(normal, method.percent);
      break;
    }
  }
  std::tie(calibration.tpr, calibration.tnr) = decision_rates(scores, labels, calibration.threshold);
  return calibration;
}

nlohmann::json calibration_record(const Calibration& calibration, const std::string& data_description,
                                  const std::string& dataset, int64_t n_normal, int64_t n_anomalous,
                                  const std::string& time, const StoredThreshold& previous) {
  auto number = [](double value) { return std::isnan(value) ? nlohmann::json() : nlohmann::json(value); };
  return {{"threshold", calibration.threshold},
          {"method", calibration.method.text()},
          {"rule", fmt::format("{} on {} ({} normal, {} anomalous images)", rule_of(calibration.method),
                               data_description, n_normal, n_anomalous)},
          {"metric_threshold", calibration.metric_threshold},
          {"data", data_description},
          {"dataset", dataset},
          {"n_normal", n_normal},
          {"n_anomalous", n_anomalous},
          {"tpr", number(calibration.tpr)},
          {"tnr", number(calibration.tnr)},
          {"time", time},
          {"previous_threshold", number(previous.value)},
          {"previous_method", previous.method}};
}

std::string utc_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace piade
