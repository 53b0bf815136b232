#include "piade/eval/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "piade/core/error.h"

namespace piade {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Cumulative counts at each distinct score, scores descending: at
/// thresholds[k], tp[k] anomalous and fp[k] normal samples have score >=
/// thresholds[k] (sklearn's _binary_clf_curve).
struct Counts {
  std::vector<double> thresholds;
  std::vector<int64_t> tp, fp;
  int64_t positives = 0, negatives = 0;
};

Counts count_by_threshold(const std::vector<double>& scores, const std::vector<int>& labels) {
  if (scores.size() != labels.size())
    throw Error(fmt::format("image metrics: {} scores but {} labels, give one label per score", scores.size(),
                            labels.size()));
  Counts counts;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i]))
      throw Error(fmt::format("image metrics: score {} is {}, scores must be finite numbers", i, scores[i]));
    if (labels[i] != 0 && labels[i] != 1)
      throw Error(fmt::format("image metrics: label {} is {}, labels must be 0 (normal) or 1 (anomalous)", i,
                              labels[i]));
    (labels[i] ? counts.positives : counts.negatives) += 1;
  }
  if (counts.positives == 0 || counts.negatives == 0)
    throw Error(fmt::format("image metrics: no {} images among the {} given, the measures need both normal and "
                            "anomalous images",
                            counts.positives == 0 ? "anomalous" : "normal", scores.size()));

  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    (labels[order[i]] ? tp : fp) += 1;
    // A threshold is complete once the next score differs (ties share one).
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]]) {
      counts.thresholds.push_back(scores[order[i]]);
      counts.tp.push_back(tp);
      counts.fp.push_back(fp);
    }
  }
  return counts;
}

/// Trapezoidal area under the ROC steps, in units of 1/(2PN); each term
/// is an integer, exactly representable in a double up to 2^53.
double roc_area(const Counts& c) {
  double twice_area = 0;
  int64_t tp_prev = 0, fp_prev = 0;
  for (size_t k = 0; k < c.tp.size(); ++k) {
    twice_area += static_cast<double>(c.fp[k] - fp_prev) * static_cast<double>(c.tp[k] + tp_prev);
    tp_prev = c.tp[k];
    fp_prev = c.fp[k];
  }
  return twice_area / (2.0 * static_cast<double>(c.positives) * static_cast<double>(c.negatives));
}

/// Float bits mapped to an unsigned key with the same order (sign flipped
/// for positives, all bits flipped for negatives), as radix sorts do.
uint32_t sortable_key(float value) {
  if (value == 0.0f) value = 0.0f;  // -0 and +0 are one threshold
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

std::string shape_text(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

/// Compensated (Kahan) sum: the PRO value is a running sum of millions of
/// small per-pixel weights.
struct KahanSum {
  double sum = 0, carry = 0;
  void add(double value) {
    const double y = value - carry;
    const double t = sum + y;
    carry = (t - sum) - y;
    sum = t;
  }
};

/// Builds a drawing curve from exact points, thinned as PixelMetrics
/// describes: a point is kept when it is `x_step` (or 1/1000 in y) away
/// from the last kept one, with the point before it.
class ThinCurve {
 public:
  explicit ThinCurve(double x_step) : x_step_(x_step) { keep(0, 0, kInf); }
  void add(double x, double y, double threshold) {
    if (std::abs(x - curve_.x.back()) >= x_step_ || std::abs(y - curve_.y.back()) >= kYStep) {
      if (pending_) keep(previous_[0], previous_[1], previous_[2]);
      keep(x, y, threshold);
      pending_ = false;
    } else {
      previous_ = {x, y, threshold};
      pending_ = true;
    }
  }
  /// The last point given, kept whatever its distance.
  Curve finish() {
    if (pending_) keep(previous_[0], previous_[1], previous_[2]);
    pending_ = false;
    return curve_;
  }

 private:
  static constexpr double kYStep = 1e-3;
  void keep(double x, double y, double threshold) {
    curve_.x.push_back(x);
    curve_.y.push_back(y);
    curve_.thresholds.push_back(threshold);
  }
  double x_step_;
  Curve curve_;
  std::array<double, 3> previous_{};
  bool pending_ = false;
};

/// The map value of a sort key (sortable_key's inverse).
float value_of_key(uint32_t key) {
  const uint32_t bits = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

double auroc(const std::vector<double>& scores, const std::vector<int>& labels) {
  return roc_area(count_by_threshold(scores, labels));
}

ImageMetrics image_metrics(const std::vector<double>& scores, const std::vector<int>& labels) {
  const Counts c = count_by_threshold(scores, labels);
  const auto P = c.positives, N = c.negatives;
  const size_t n = c.thresholds.size();

  ImageMetrics m;
  m.n_normal = N;
  m.n_anomalous = P;
  m.auroc = roc_area(c);

  m.roc.x.reserve(n + 1);
  m.roc.y.reserve(n + 1);
  m.roc.thresholds.reserve(n + 1);
  m.roc.x.push_back(0);
  m.roc.y.push_back(0);
  m.roc.thresholds.push_back(kInf);
  for (size_t k = 0; k < n; ++k) {
    m.roc.x.push_back(static_cast<double>(c.fp[k]) / static_cast<double>(N));
    m.roc.y.push_back(static_cast<double>(c.tp[k]) / static_cast<double>(P));
    m.roc.thresholds.push_back(c.thresholds[k]);
  }

  // PR in sklearn's order: thresholds ascending, then (recall 0, precision 1).
  // Every threshold admits at least one sample, so TP + FP > 0.
  double ap = 0;
  int64_t tp_prev = 0;
  for (size_t k = 0; k < n; ++k) {
    const double precision = static_cast<double>(c.tp[k]) / static_cast<double>(c.tp[k] + c.fp[k]);
    ap += static_cast<double>(c.tp[k] - tp_prev) / static_cast<double>(P) * precision;
    tp_prev = c.tp[k];
  }
  m.aupr = ap;
  for (size_t k = n; k-- > 0;) {
    m.pr.x.push_back(static_cast<double>(c.tp[k]) / static_cast<double>(P));
    m.pr.y.push_back(static_cast<double>(c.tp[k]) / static_cast<double>(c.tp[k] + c.fp[k]));
    m.pr.thresholds.push_back(c.thresholds[k]);
  }
  m.pr.x.push_back(0);
  m.pr.y.push_back(1);
  m.pr.thresholds.push_back(kInf);

  // MVTec measure: TPR + TNR = tp/P + 1 - fp/N, so maximise tp*N - fp*P,
  // compared exactly in integers. Going down from the highest threshold with
  // a strict '>' keeps the highest threshold among equals. The +inf start
  // point (TPR 0, TNR 1) is not a candidate: the lowest score (TPR 1, TNR 0)
  // always ties it, and a finite threshold is what a user can apply.
  size_t best = 0;
  int64_t best_gain = std::numeric_limits<int64_t>::min();
  // F1 = 2tp / (2tp + fp + fn) = 2tp / (tp + fp + P); compare a/b > c/d as
  // a*d > c*b, exact.
  size_t best_f1 = 0;
  int64_t f1_num = -1, f1_den = 1;
  for (size_t k = 0; k < n; ++k) {
    const int64_t gain = c.tp[k] * N - c.fp[k] * P;
    if (gain > best_gain) {
      best_gain = gain;
      best = k;
    }
    const int64_t num = 2 * c.tp[k], den = c.tp[k] + c.fp[k] + P;
    if (num * f1_den > f1_num * den) {
      f1_num = num;
      f1_den = den;
      best_f1 = k;
    }
  }
  m.best_tpr = static_cast<double>(c.tp[best]) / static_cast<double>(P);
  m.best_tnr = static_cast<double>(N - c.fp[best]) / static_cast<double>(N);
  m.best_balanced = (m.best_tpr + m.best_tnr) / 2;
  m.best_threshold = c.thresholds[best];
  m.f1_max = static_cast<double>(f1_num) / static_cast<double>(f1_den);
  m.f1_threshold = c.thresholds[best_f1];
  return m;
}

PixelMetrics pixel_metrics(const torch::Tensor& maps, const torch::Tensor& masks, double max_fpr) {
  if (!(max_fpr > 0 && max_fpr <= 1))
    throw Error(fmt::format("pixel metrics: max FPR {} is outside (0, 1], give e.g. 0.3", max_fpr));
  if (maps.dim() != 3)
    throw Error(fmt::format("pixel metrics: anomaly maps have shape {}, expected [N,H,W]", shape_text(maps)));
  if (maps.sizes() != masks.sizes())
    throw Error(fmt::format("pixel metrics: anomaly maps {} and masks {} differ in shape, give one mask of the "
                            "map's size per image",
                            shape_text(maps), shape_text(masks)));
  if (!maps.is_floating_point())
    throw Error(fmt::format("pixel metrics: anomaly maps are {}, expected a floating point tensor",
                            std::string(c10::toString(maps.scalar_type()))));

  // Maps in float32: one 32-bit sort key per pixel (wider maps are rounded).
  const torch::Tensor values = maps.to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor defect = masks.to(torch::kCPU).ne(0).to(torch::kUInt8).contiguous();
  const int64_t images = maps.size(0), height = maps.size(1), width = maps.size(2);
  const int64_t plane = height * width, total = images * plane;
  if (total == 0) throw Error("pixel metrics: the anomaly maps are empty");

  // Label every defect pixel with its region's global id (1-based); 0 = normal.
  std::vector<uint32_t> region(static_cast<size_t>(total), 0);
  std::vector<int64_t> region_size{0};  // index 0 unused
  for (int64_t i = 0; i < images; ++i) {
    cv::Mat mask(static_cast<int>(height), static_cast<int>(width), CV_8U,
                 defect.data_ptr<uint8_t>() + i * plane);
    cv::Mat labels;
    const int found = cv::connectedComponents(mask, labels, 8, CV_32S);  // label 0 = background
    const uint32_t offset = static_cast<uint32_t>(region_size.size() - 1);
    region_size.resize(region_size.size() + static_cast<size_t>(found - 1), 0);
    uint32_t* out = region.data() + i * plane;
    for (int y = 0; y < labels.rows; ++y) {
      const int* row = labels.ptr<int>(y);
      for (int x = 0; x < labels.cols; ++x, ++out) {
        if (row[x] == 0) continue;
        *out = offset + static_cast<uint32_t>(row[x]);
        ++region_size[*out];
      }
    }
  }
  const int64_t n_regions = static_cast<int64_t>(region_size.size()) - 1;
  int64_t positives = 0;
  for (int64_t i = 1; i <= n_regions; ++i) positives += region_size[static_cast<size_t>(i)];
  const int64_t negatives = total - positives;
  if (positives == 0)
    throw Error("pixel metrics: the masks have no defect pixel, pixel AUROC and PRO need anomalous images "
                "with ground-truth masks");
  if (negatives == 0)
    throw Error("pixel metrics: the masks have no defect-free pixel, pixel AUROC and PRO need normal pixels");

  // Weight of one pixel in PRO: 1 / (regions * its region's size).
  std::vector<double> pro_weight(region_size.size(), 0);
  for (size_t r = 1; r < region_size.size(); ++r)
    pro_weight[r] = 1.0 / (static_cast<double>(n_regions) * static_cast<double>(region_size[r]));

  // One sort of (map value, region id) packed in 64 bits serves both the
  // exact ROC and the exact PRO curve.
  const float* v = values.data_ptr<float>();
  std::vector<uint64_t> keys(static_cast<size_t>(total));
  for (int64_t p = 0; p < total; ++p) {
    if (!std::isfinite(v[p]))
      throw Error(fmt::format("pixel metrics: anomaly map {} has value {} at pixel ({}, {}), maps must be finite",
                              p / plane, v[p], (p % plane) / width, p % width));
    keys[static_cast<size_t>(p)] = (static_cast<uint64_t>(sortable_key(v[p])) << 32) | region[static_cast<size_t>(p)];
  }
  std::vector<uint32_t>().swap(region);
  std::sort(keys.begin(), keys.end());

  // Sweep thresholds from the highest value down; each group of equal values
  // is one curve point.
  double twice_auc = 0;  // in units of 1/(PN), integer terms
  int64_t tp = 0, fp = 0;
  KahanSum pro;
  double fpr_prev = 0, pro_prev = 0, pro_area = 0;
  bool integrating = true;
  ThinCurve roc_curve(1e-3), pro_curve(max_fpr * 1e-3);
  for (size_t end = keys.size(); end > 0;) {
    const uint64_t group = keys[end - 1] >> 32;
    int64_t tp_delta = 0, fp_delta = 0;
    for (; end > 0 && (keys[end - 1] >> 32) == group; --end) {
      const uint32_t r = static_cast<uint32_t>(keys[end - 1]);
      if (r == 0) {
        ++fp_delta;
      } else {
        ++tp_delta;
        pro.add(pro_weight[r]);
      }
    }
    twice_auc += static_cast<double>(fp_delta) * static_cast<double>(2 * tp + tp_delta);
    tp += tp_delta;
    fp += fp_delta;
    const double fpr = static_cast<double>(fp) / static_cast<double>(negatives);
    const double threshold = value_of_key(static_cast<uint32_t>(group));
    roc_curve.add(fpr, static_cast<double>(tp) / static_cast<double>(positives), threshold);
    if (integrating) {
      const double pro_now = pro.sum;
      if (fpr <= max_fpr) {
        pro_area += (fpr - fpr_prev) * (pro_now + pro_prev) / 2;
        pro_curve.add(fpr, std::clamp(pro_now, 0.0, 1.0), threshold);
      } else {
        // Close the integral at max_fpr on the segment that crosses it.
        const double at_max = pro_prev + (pro_now - pro_prev) * (max_fpr - fpr_prev) / (fpr - fpr_prev);
        pro_area += (max_fpr - fpr_prev) * (at_max + pro_prev) / 2;
        pro_curve.add(max_fpr, std::clamp(at_max, 0.0, 1.0), threshold);
        integrating = false;
      }
      fpr_prev = fpr;
      pro_prev = pro_now;
    }
  }

  PixelMetrics m;
  m.pixel_auroc = twice_auc / (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
  m.pro_auc = pro_area / max_fpr;
  m.max_fpr = max_fpr;
  m.n_regions = n_regions;
  m.roc = roc_curve.finish();
  m.pro = pro_curve.finish();
  return m;
}

std::string curve_csv(const Curve& curve, const char* x_name, const char* y_name) {
  std::string text = fmt::format("threshold,{},{}\n", x_name, y_name);
  for (size_t i = 0; i < curve.x.size(); ++i)
    text += fmt::format("{},{},{}\n", curve.thresholds[i], curve.x[i], curve.y[i]);
  return text;
}

VectorShares vector_shares(const std::vector<int64_t>& vectors, const std::vector<int>& labels, int64_t count) {
  if (vectors.size() != labels.size())
    throw Error(fmt::format("vector shares: {} vector indices but {} labels, give one label per image", vectors.size(),
                            labels.size()));
  if (count < 1) throw Error(fmt::format("vector shares: {} routed vectors, there must be at least 1", count));
  std::array<std::vector<double>, 2> counts = {std::vector<double>(std::size_t(count), 0.0),
                                               std::vector<double>(std::size_t(count), 0.0)};
  std::array<double, 2> totals = {0, 0};
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    if (vectors[i] < 0 || vectors[i] >= count)
      throw Error(fmt::format("vector shares: image {} was decoded from vector {}, but there are only {} (0 to {})",
                              i, vectors[i], count, count - 1));
    if (labels[i] != 0 && labels[i] != 1)
      throw Error(fmt::format("vector shares: label {} is {}, labels must be 0 (normal) or 1 (anomalous)", i,
                              labels[i]));
    counts[std::size_t(labels[i])][std::size_t(vectors[i])] += 1;
    totals[std::size_t(labels[i])] += 1;
  }
  for (std::size_t group = 0; group < 2; ++group)
    if (totals[group] > 0)
      for (double& share : counts[group]) share /= totals[group];
  return {counts[0], counts[1]};
}

}  // namespace piade
