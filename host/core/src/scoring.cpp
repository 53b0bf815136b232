#include "piade/core/scoring.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "piade/core/error.h"
#include "piade/datasets/prefetch.h"

namespace piade {
namespace {

// The q-quantile of sorted values: the nearest rank, as score_statistics
// has always computed it.
double sorted_quantile(const torch::Tensor& sorted, double q) {
  const int64_t i = std::min<int64_t>(sorted.size(0) - 1, static_cast<int64_t>(q * (sorted.size(0) - 1) + 0.5));
  return sorted[i].item<double>();
}

}  // namespace

nlohmann::json score_statistics(const torch::Tensor& scores) {
  torch::Tensor s = scores.to(torch::kCPU, torch::kDouble);
  torch::Tensor sorted = std::get<0>(s.sort());
  auto quantile = [&](double q) { return sorted_quantile(sorted, q); };
  return {{"count", s.size(0)},
          {"mean", s.mean().item<double>()},
          {"std", s.size(0) > 1 ? s.std().item<double>() : 0.0},
          {"min", sorted[0].item<double>()},
          {"median", quantile(0.5)},
          {"p95", quantile(0.95)},
          {"p99", quantile(0.99)},
          {"max", sorted[-1].item<double>()},
          {"threshold", quantile(0.99)},
          {"threshold_rule", "99th percentile of training-set scores"}};
}

double score_percentile(std::vector<double> scores, double percent) {
  if (scores.empty()) throw Error("percentile: no scores");
  if (!(percent > 0 && percent <= 100)) throw Error(fmt::format("percentile: must be in (0, 100], got {}", percent));
  std::sort(scores.begin(), scores.end());
  const double q = percent / 100;
  const auto rank = static_cast<std::size_t>(q * double(scores.size() - 1) + 0.5);
  const std::size_t i = std::min(scores.size() - 1, rank);
  return scores[i];
}

nlohmann::json ScoreNormalization::to_json() const {
  return {{"threshold", std::isnan(threshold) ? nlohmann::json() : nlohmann::json(threshold)},
          {"min", min},
          {"max", max},
          {"range", range},
          {"formula", "clip((score - threshold) / (max - min) + 0.5, 0, 1)"}};
}

ScoreNormalization score_normalization(const nlohmann::json& score_stats, double threshold) {
  ScoreNormalization normalization;
  normalization.threshold = threshold;
  const bool recorded = score_stats.is_object() && score_stats.contains("min") && score_stats.contains("max") &&
                        score_stats["min"].is_number() && score_stats["max"].is_number();
  if (recorded) {
    normalization.min = score_stats["min"].get<double>();
    normalization.max = score_stats["max"].get<double>();
    normalization.range = "training scores";
    if (normalization.max > normalization.min) return normalization;
  }
  normalization.min = 0;
  normalization.max = std::isnan(threshold) ? 0 : 2 * std::abs(threshold);
  normalization.range = "0 to twice the threshold";
  if (std::isnan(threshold)) return normalization;  // nothing is normalised: no note
  normalization.note = fmt::format(
      "score_normalized: {}; using 0 to twice the threshold as the score range",
      recorded ? "the training scores are all equal (max = min)"
               : "the checkpoint records no training-score range (score_stats.min/max)");
  if (!(normalization.max > 0)) normalization.max = 1;  // a threshold of 0: scores are then 0 or anomalous
  return normalization;
}

double normalize_score(double raw, const ScoreNormalization& normalization) {
  if (std::isnan(raw) || std::isnan(normalization.threshold)) return std::nan("");
  const double value = (raw - normalization.threshold) / (normalization.max - normalization.min) + 0.5;
  return std::clamp(value, 0.0, 1.0);
}

nlohmann::json map_statistics(const torch::Tensor& image_maxima) {
  const torch::Tensor sorted = std::get<0>(image_maxima.to(torch::kCPU, torch::kDouble).sort());
  return {{"count", sorted.size(0)},
          {"max_median", sorted_quantile(sorted, 0.5)},
          {"max_p99", sorted_quantile(sorted, 0.99)},
          {"max_max", sorted[-1].item<double>()},
          {"rule", "per training image the largest anomaly-map value; max_p99 tops the colour scale"}};
}

namespace {

// Throws for the first image of a batch (the first at `first`) whose score is
// nan or inf.
void check_finite_scores(const torch::Tensor& totals, int64_t first, const std::vector<std::string>& ids) {
  const torch::Tensor finite = torch::isfinite(totals).cpu();
  if (finite.all().item<bool>()) return;
  const int64_t j = (~finite).nonzero()[0][0].item<int64_t>();
  const int64_t index = first + j;
  const std::string image = index < static_cast<int64_t>(ids.size()) ? fmt::format("'{}'", ids[std::size_t(index)])
                                                                      : fmt::format("{}", index);
  throw Error(fmt::format("image {}: its score is {}, not a number the threshold can judge; the model's weights "
                          "overflow on it (a damaged or diverged checkpoint); retrain or use another checkpoint",
                          image, totals[j].item<double>()));
}

}  // namespace

namespace {

// score_all over `n` images whose batch [start, end) `batch_at` gives.
ScoreTable score_batches(PiadeModel& model, int64_t n, const std::function<torch::Tensor(int64_t, int64_t)>& batch_at,
                         const Preprocess& preprocess_settings, int64_t batch_size, const torch::Device& device,
                         const ScoreVisitor& visit, const std::vector<std::string>& ids) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<torch::Tensor> totals, indices;
  std::vector<std::vector<torch::Tensor>> terms;
  for (int64_t start = 0; start < n; start += batch_size) {
    torch::Tensor batch = batch_at(start, std::min(start + batch_size, n));
    BatchScores scores = model->score(preprocess(batch, preprocess_settings).to(device), /*with_maps=*/bool(visit));
    check_finite_scores(scores.total, start, ids);
    if (visit) visit(start, scores);
    totals.push_back(scores.total.cpu());
    indices.push_back(scores.reconstruction.vector_index.cpu());
    terms.resize(scores.terms.size());
    for (std::size_t t = 0; t < scores.terms.size(); ++t) terms[t].push_back(scores.terms[t].cpu());
  }
  ScoreTable out;
  out.total = torch::cat(totals);
  out.vector_index = torch::cat(indices);
  for (auto& term : terms) out.terms.push_back(torch::cat(term));
  return out;
}

}  // namespace

ScoreTable score_all(PiadeModel& model, const torch::Tensor& images_uint8, const Preprocess& preprocess_settings,
                      int64_t batch_size, const torch::Device& device, const ScoreVisitor& visit,
                      const std::vector<std::string>& ids) {
  return score_batches(
      model, images_uint8.size(0), [&](int64_t start, int64_t end) { return images_uint8.slice(0, start, end); },
      preprocess_settings, batch_size, device, visit, ids);
}

ScoreTable score_all(PiadeModel& model, const ImageSet& images, const Preprocess& preprocess_settings,
                     int64_t batch_size, const torch::Device& device, const ScoreVisitor& visit) {
  if (!images.streamed()) return score_all(model, images.images, preprocess_settings, batch_size, device, visit, images.ids);
  const int64_t n = images.size();
  std::vector<std::vector<int64_t>> batches;
  for (int64_t start = 0; start < n; start += batch_size) {
    batches.emplace_back();
    for (int64_t i = start; i < std::min(start + batch_size, n); ++i) batches.back().push_back(i);
  }
  Prefetcher prefetcher(images, std::move(batches));
  return score_batches(
      model, n, [&](int64_t, int64_t) { return prefetcher.next(); }, preprocess_settings, batch_size, device, visit,
      images.ids);
}

}  // namespace piade
