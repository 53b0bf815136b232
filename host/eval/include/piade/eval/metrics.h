// Evaluation measures for `piade eval` (paper sec. 4.3): image-level ROC AUC
// and average precision, the MVTec measure (best TPR and TNR), F1-max, and,
// where ground-truth masks exist, per-pixel ROC AUC and PRO. A pure
// computation module: nothing here reads or writes files; curve_csv() only
// formats text.
//
// Convention everywhere: label 1 = anomalous (the positive class), 0 =
// normal; a higher score means more anomalous; a sample counts as predicted
// anomalous at threshold t when score >= t (as scikit-learn's curves).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace piade {

/// Points of a ROC or precision-recall curve, all three vectors the same
/// length, laid out as scikit-learn 1.2+ does so that the two compare
/// point by point:
/// - ROC (x = FPR, y = TPR): thresholds descending; the first point is
///   (0, 0) at threshold +inf (sklearn 1.3+ uses inf, 1.2 used max + 1),
///   then one point per distinct score, as roc_curve(drop_intermediate=False).
/// - PR (x = recall, y = precision): thresholds ascending, one point per
///   distinct score, then the end point recall 0, precision 1 at threshold
///   +inf, as precision_recall_curve (which gives that point no threshold).
struct Curve {
  std::vector<double> x, y, thresholds;
};

/// Image-level measures of one test set.
struct ImageMetrics {
  /// Area under the ROC curve, exact, ties counted 1/2 (Mann-Whitney U / PN).
  double auroc = 0;
  /// Average precision, scikit-learn's average_precision_score definition:
  /// sum over thresholds of (R_k - R_{k-1}) * P_k, the step-wise
  /// (not trapezoidal) area under the PR curve.
  double aupr = 0;
  /// The paper's MVTec measure (sec. 4.3, after Bergmann et al.): over all
  /// thresholds (every distinct score), the one maximising TPR + TNR; its
  /// TPR, TNR, their mean, and the threshold itself. Ties go to the highest
  /// threshold (fewest false alarms).
  double best_tpr = 0, best_tnr = 0, best_balanced = 0, best_threshold = 0;
  /// Highest F1 = 2TP / (2TP + FP + FN) over all distinct-score thresholds,
  /// and that threshold (ties: the highest).
  double f1_max = 0, f1_threshold = 0;
  int64_t n_normal = 0, n_anomalous = 0;
  Curve roc, pr;
};

/// All image measures. `labels`: 1 anomalous, 0 normal. Throws piade::Error
/// naming the problem when the sizes differ, a label is not 0 or 1, a score
/// is NaN or infinite, or either class is missing.
ImageMetrics image_metrics(const std::vector<double>& scores, const std::vector<int>& labels);

/// ROC AUC alone, exact with ties counted 1/2 (Mann-Whitney); same
/// conventions and errors as image_metrics().
double auroc(const std::vector<double>& scores, const std::vector<int>& labels);

/// The share of images decoded from each routed vector (the index select()
/// chose, ScoreTable::vector_index), for normal and anomalous images apart:
/// element k of each is the fraction of that group decoded from vector k, so
/// each group sums to 1. At test time the longest vector is decoded, which
/// may be one the decoder never saw in training (sec. 3.1).
struct VectorShares {
  std::vector<double> normal, anomalous;  ///< one share per vector
};

/// Counts `vectors` (one index per image, each in [0, count)) by `labels`
/// (1 anomalous, 0 normal). A group without images gets all shares 0.
/// Throws piade::Error when the sizes differ, count < 1, an index is out of
/// range or a label is not 0 or 1.
VectorShares vector_shares(const std::vector<int64_t>& vectors, const std::vector<int>& labels, int64_t count);

/// Pixel-level measures over a whole test set.
struct PixelMetrics {
  /// ROC AUC over every pixel of every map, exact, ties counted 1/2.
  double pixel_auroc = 0;
  /// Normalised area under the PRO curve for FPR in [0, max_fpr]: 1 for a
  /// perfect detector.
  double pro_auc = 0;
  double max_fpr = 0.3;
  /// Connected defect regions (8-connectivity) over all masks.
  int64_t n_regions = 0;
  /// The curves the two areas come from, for drawing (pixel_roc.svg,
  /// pro.svg), laid out as ImageMetrics::roc: thresholds descending from
  /// +inf at (0, 0). `roc`: x = FPR, y = TPR over all pixels, to (1, 1).
  /// `pro`: x = FPR, y = PRO, up to FPR = max_fpr, its last point
  /// interpolated at max_fpr as the area is (threshold: the value whose
  /// segment crosses it). A map has about as many points as pixels, so each
  /// is thinned: a point is kept when it is at least 1/1000 of the axis away
  /// (in x or in y) from the last kept one, together with the point before
  /// it, so steps stay steps; every kept point is exact, and the areas above
  /// are computed from every point.
  Curve roc, pro;
};

/// `maps`: [N,H,W] floating point anomaly maps (higher = more anomalous);
/// `masks`: [N,H,W], nonzero = defect; both on the CPU.
///
/// PRO (per-region overlap, Bergmann et al., MVTec AD, IJCV 2021): at a
/// threshold t, each connected defect region of each mask (8-connectivity,
/// cv::connectedComponents) has overlap = the fraction of its pixels with
/// map >= t; PRO(t) is the mean overlap over all regions of all images, and
/// FPR(t) the fraction of all defect-free pixels with map >= t. The curve is
/// exact: one point per distinct map value (one sort of all pixels, as the
/// official MVTec evaluation's compute_pro does, no threshold sampling),
/// starting at (0, 0). It is integrated with the trapezoidal rule over
/// FPR in [0, max_fpr], interpolating linearly at max_fpr, and divided by
/// max_fpr.
///
/// Throws piade::Error when the shapes differ or are not [N,H,W], a map
/// value is NaN or infinite, the masks have no defect pixel or no defect-free
/// pixel, or max_fpr is outside (0, 1].
PixelMetrics pixel_metrics(const torch::Tensor& maps, const torch::Tensor& masks, double max_fpr = 0.3);

/// The curve as CSV text: header "threshold,<x_name>,<y_name>", then one row
/// per point, numbers in shortest round-trip form (+inf as "inf").
std::string curve_csv(const Curve& curve, const char* x_name, const char* y_name);

}  // namespace piade
