// Evaluation measures (paper sec. 4.3): image AUROC / average precision and
// their curves against scikit-learn, the MVTec measure and F1-max on hand
// cases, PRO on a hand case and against a transcription of the official
// MVTec AD evaluation code, pixel AUROC against scikit-learn.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "piade/core/error.h"
#include "piade/eval/calibration.h"
#include "piade/eval/metrics.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTol = 1e-12;

// ---------------------------------------------------------------------------
// Reference implementations, run with Debian's Python.

// Image measures from scikit-learn for each case of {"cases": [{scores,
// labels}]}.
const char* kImageScript = R"py(
import json, sys
import numpy as np
from sklearn.metrics import (average_precision_score, precision_recall_curve,
                             roc_auc_score, roc_curve)
out = []
for case in json.load(open(sys.argv[1]))["cases"]:
    y = np.array(case["labels"]); s = np.array(case["scores"], dtype=np.float64)
    fpr, tpr, roc_thr = roc_curve(y, s, drop_intermediate=False)
    precision, recall, pr_thr = precision_recall_curve(y, s)
    p, r = precision[:-1], recall[:-1]
    f1 = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0)
    out.append(dict(auroc=roc_auc_score(y, s), ap=average_precision_score(y, s),
                    fpr=fpr.tolist(), tpr=tpr.tolist(), roc_thr=roc_thr.tolist(),
                    precision=precision.tolist(), recall=recall.tolist(),
                    pr_thr=pr_thr.tolist(),
                    best_balanced=float(np.max((tpr + 1 - fpr) / 2)),
                    f1_max=float(np.max(f1))))
print(json.dumps(out))
)py";

// Pixel AUROC from scikit-learn, and PRO as the MVTec AD evaluation code
// computes it (pro_curve_util.compute_pro + generic_util.trapezoid,
// transcribed): one sort of all pixels, cumulative FP and per-region
// changes, duplicates dropped, trapezoid up to max_fpr with interpolation.
const char* kPixelScript = R"py(
import bisect, json, sys
import numpy as np
from scipy.ndimage import label
from sklearn.metrics import roc_auc_score
args = json.load(open(sys.argv[1]))
shape = args["shape"]
maps = np.fromfile(args["maps"], dtype=np.float32).reshape(shape)
gts = np.fromfile(args["masks"], dtype=np.uint8).reshape(shape)

def compute_pro(anomaly_maps, ground_truth_maps):
    structure = np.ones((3, 3), dtype=int)
    num_ok_pixels = 0
    num_gt_regions = 0
    fp_changes = np.zeros(anomaly_maps.shape, dtype=np.float64)
    pro_changes = np.zeros(anomaly_maps.shape, dtype=np.float64)
    for gt_ind, gt_map in enumerate(ground_truth_maps):
        labeled, n_defects = label(gt_map, structure)
        num_gt_regions += n_defects
        ok_mask = labeled == 0
        num_ok_pixels += np.sum(ok_mask)
        fp_changes[gt_ind, ok_mask] = 1.0
        for k in range(n_defects):
            region_mask = labeled == (k + 1)
            pro_changes[gt_ind, region_mask] = 1.0 / np.sum(region_mask)
    scores = anomaly_maps.ravel().astype(np.float64)
    order = np.argsort(scores, kind="stable")[::-1]
    scores = scores[order]
    fprs = np.cumsum(fp_changes.ravel()[order]) / num_ok_pixels
    pros = np.cumsum(pro_changes.ravel()[order]) / num_gt_regions
    keep = np.append(np.diff(scores) != 0, np.True_)
    fprs = np.concatenate(([0.0], np.clip(fprs[keep], 0, 1)))
    pros = np.concatenate(([0.0], np.clip(pros[keep], 0, 1)))
    return fprs, pros, num_gt_regions

def trapezoid(x, y, x_max):
    correction = 0.0
    if x_max not in x:
        ins = bisect.bisect(x, x_max)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x = x[mask]; y = y[mask]
    return np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction

fprs, pros, regions = compute_pro(maps, gts)

def missing(points, xs, ys):
    # Points not on the reference curve (to 1e-9).
    known = set(zip(np.round(xs, 9), np.round(ys, 9)))
    return [p for p in points if (round(p[0], 9), round(p[1], 9)) not in known]

curves = {}
if "roc_points" in args:
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve((gts != 0).ravel(), maps.ravel().astype(np.float64), drop_intermediate=False)
    curves = dict(roc_missing=missing(args["roc_points"], fpr, tpr),
                  pro_missing=missing(args["pro_points"], fprs, pros))
print(json.dumps(dict(**curves,
    auroc=roc_auc_score((gts != 0).ravel(), maps.ravel().astype(np.float64)),
    pro=float(trapezoid(fprs, pros, args["max_fpr"]) / args["max_fpr"]),
    n_regions=int(regions))))
)py";

using piade::test::write_text;

/// A scratch directory for the reference runs, removed at exit.
const fs::path& scratch() {
  static const piade::test::ScratchDir dir;
  return dir.path();
}

/// Runs `script` on `input` (as JSON in a file) and parses its JSON output.
json run_reference(const std::string& name, const char* script, const json& input) {
  const fs::path py = scratch() / (name + ".py"), in = scratch() / (name + ".json");
  write_text(py, script);
  write_text(in, input.dump());
  const piade::test::CommandResult run = piade::test::run_reference_python(py, {in.string()});
  const std::string& out = run.output;
  if (run.status != 0)
    throw std::runtime_error(fmt::format("{} {} failed ({}):\n{}", PIADE_REFERENCE_PYTHON, py.string(), run.status, out));
  // Warnings (e.g. sklearn's) may precede the JSON line; it is the last one.
  const auto start = out.rfind('\n', out.size() >= 2 ? out.size() - 2 : 0);
  return json::parse(start == std::string::npos ? out : out.substr(start + 1));
}

struct Case {
  std::string name;
  std::vector<double> scores;
  std::vector<int> labels;
};

void expect_near_all(const std::vector<double>& actual, const json& expected, size_t from, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = from; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i].get<double>(), kTol) << what << " [" << i << "]";
}

// ---------------------------------------------------------------------------
// Image measures.

std::vector<Case> reference_cases() {
  std::mt19937_64 rng(20240611);
  std::normal_distribution<double> normal(0, 1);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<Case> cases;
  auto random_case = [&](const std::string& name, size_t n, double p_anomalous, auto score) {
    Case c{name, {}, {}};
    for (size_t i = 0; i < n; ++i) {
      // The first two fixed so that both classes are present.
      const int label = i < 2 ? static_cast<int>(i) : uniform(rng) < p_anomalous ? 1 : 0;
      c.labels.push_back(label);
      c.scores.push_back(score(label));
    }
    cases.push_back(c);
  };
  random_case("continuous", 300, 0.3, [&](int y) { return normal(rng) + 0.8 * y; });
  random_case("imbalanced", 200, 0.05, [&](int y) { return normal(rng) + 1.5 * y; });
  // Heavy ties: one decimal, so ~20 distinct values for 500 scores.
  random_case("one decimal", 500, 0.5, [&](int y) { return std::round((normal(rng) + 0.5 * y) * 10) / 10; });
  random_case("five values", 1000, 0.4, [&](int y) { return std::floor(uniform(rng) * 4 + y * uniform(rng) * 2); });
  random_case("all tied", 50, 0.3, [&](int) { return 0.5; });
  random_case("separated", 60, 0.5, [&](int y) { return uniform(rng) + 2 * y; });
  random_case("inverted", 60, 0.5, [&](int y) { return uniform(rng) - 2 * y; });
  random_case("tie across classes", 40, 0.5, [&](int y) { return y ? 1.0 + std::floor(uniform(rng) * 2) : 1.0 - std::floor(uniform(rng) * 2); });
  cases.push_back({"two samples", {0.3, 0.3}, {0, 1}});
  return cases;
}

TEST(ImageMetrics, MatchScikitLearnOnRandomTiedSeparatedAndInvertedSets) {
  const std::vector<Case> cases = reference_cases();
  json input{{"cases", json::array()}};
  for (const auto& c : cases) input["cases"].push_back({{"scores", c.scores}, {"labels", c.labels}});
  const json ref = run_reference("image", kImageScript, input);
  ASSERT_EQ(ref.size(), cases.size());

  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const auto& r = ref[i];
    const piade::ImageMetrics m = piade::image_metrics(cases[i].scores, cases[i].labels);
    EXPECT_NEAR(m.auroc, r["auroc"].get<double>(), kTol);
    EXPECT_EQ(piade::auroc(cases[i].scores, cases[i].labels), m.auroc);
    EXPECT_NEAR(m.aupr, r["ap"].get<double>(), kTol);
    EXPECT_NEAR(m.best_balanced, r["best_balanced"].get<double>(), kTol);
    EXPECT_NEAR(m.f1_max, r["f1_max"].get<double>(), kTol);

    expect_near_all(m.roc.x, r["fpr"], 0, "fpr");
    expect_near_all(m.roc.y, r["tpr"], 0, "tpr");
    // sklearn 1.2 starts the ROC at max + 1, 1.3+ at inf; piade uses inf.
    EXPECT_EQ(m.roc.thresholds[0], std::numeric_limits<double>::infinity());
    expect_near_all(m.roc.thresholds, r["roc_thr"], 1, "roc thresholds");

    expect_near_all(m.pr.x, r["recall"], 0, "recall");
    expect_near_all(m.pr.y, r["precision"], 0, "precision");
    ASSERT_EQ(m.pr.thresholds.size(), r["pr_thr"].size() + 1);
    EXPECT_EQ(m.pr.thresholds.back(), std::numeric_limits<double>::infinity());
    for (size_t k = 0; k + 1 < m.pr.thresholds.size(); ++k)
      ASSERT_EQ(m.pr.thresholds[k], r["pr_thr"][k].get<double>()) << k;

    int64_t anomalous = 0;
    for (int y : cases[i].labels) anomalous += y;
    EXPECT_EQ(m.n_anomalous, anomalous);
    EXPECT_EQ(m.n_normal, static_cast<int64_t>(cases[i].labels.size()) - anomalous);
  }
  // Exact values where they are known without a reference.
  EXPECT_EQ(piade::auroc(cases[4].scores, cases[4].labels), 0.5);  // all tied
  EXPECT_EQ(piade::auroc(cases[5].scores, cases[5].labels), 1.0);  // separated
  EXPECT_EQ(piade::auroc(cases[6].scores, cases[6].labels), 0.0);  // inverted
}

// The MVTec measure (paper sec. 4.3), worked by hand.
//   normal:    0.1 0.3 0.35 0.7       (N = 4)
//   anomalous: 0.2 0.5 0.6  0.8 0.9   (P = 5)
//   t     TP FP  TPR  TNR   TPR+TNR   F1 = 2TP/(TP+FP+P)
//   0.9   1  0   0.2  1     1.2       2/6
//   0.8   2  0   0.4  1     1.4       4/7
//   0.7   2  1   0.4  0.75  1.15      4/8
//   0.6   3  1   0.6  0.75  1.35      6/9
//   0.5   4  1   0.8  0.75  1.55 max  8/10 max
//   0.35  4  2   0.8  0.5   1.3       8/11
//   0.3   4  3   0.8  0.25  1.05      8/12
//   0.2   5  3   1    0.25  1.25      10/13
//   0.1   5  4   1    0     1         10/14
// Best: threshold 0.5, TPR 0.8, TNR 0.75, mean 0.775; F1-max 0.8 at 0.5.
// AUROC: anomalies above normals: 0.2>1, 0.5>3, 0.6>3, 0.8>4, 0.9>4 = 15 of
// 20 pairs = 0.75. AP: recall steps of 1/5 at TP 1..5 with precisions
// 1 (0.9), 1 (0.8), 3/4 (0.6), 4/5 (0.5), 5/8 (0.2): (1+1+.75+.8+.625)/5.
// 3 normal images decoded from vectors 0, 0, 1 and 4 anomalous from 1, 1,
// 1, 2 (three vectors): normal (2/3, 1/3, 0), anomalous (0, 3/4, 1/4).
TEST(VectorShares, CountsEachGroupApart) {
  const piade::VectorShares shares = piade::vector_shares({0, 1, 1, 0, 1, 2, 1}, {0, 1, 1, 0, 0, 1, 1}, 3);
  EXPECT_EQ(shares.normal, (std::vector<double>{2.0 / 3, 1.0 / 3, 0}));
  EXPECT_EQ(shares.anomalous, (std::vector<double>{0, 0.75, 0.25}));
  // A group without images has no share anywhere.
  const piade::VectorShares only_normal = piade::vector_shares({1, 1}, {0, 0}, 2);
  EXPECT_EQ(only_normal.normal, (std::vector<double>{0, 1}));
  EXPECT_EQ(only_normal.anomalous, (std::vector<double>{0, 0}));
}

TEST(VectorShares, RefusesIndicesAndLabelsItCannotCount) {
  const auto message = [](const std::vector<int64_t>& vectors, const std::vector<int>& labels, int64_t count) {
    try {
      piade::vector_shares(vectors, labels, count);
    } catch (const piade::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message({0, 2}, {0, 1}, 2),
            "vector shares: image 1 was decoded from vector 2, but there are only 2 (0 to 1)");
  EXPECT_EQ(message({0, -1}, {0, 1}, 2),
            "vector shares: image 1 was decoded from vector -1, but there are only 2 (0 to 1)");
  EXPECT_EQ(message({0}, {0, 1}, 2), "vector shares: 1 vector indices but 2 labels, give one label per image");
  EXPECT_EQ(message({0, 0}, {0, 2}, 2), "vector shares: label 1 is 2, labels must be 0 (normal) or 1 (anomalous)");
  EXPECT_EQ(message({}, {}, 0), "vector shares: 0 routed vectors, there must be at least 1");
}

TEST(ImageMetrics, MvtecMeasureOnAHandCase) {
  const std::vector<double> scores{0.1, 0.3, 0.35, 0.7, 0.2, 0.5, 0.6, 0.8, 0.9};
  const std::vector<int> labels{0, 0, 0, 0, 1, 1, 1, 1, 1};
  const piade::ImageMetrics m = piade::image_metrics(scores, labels);
  EXPECT_DOUBLE_EQ(m.best_tpr, 0.8);
  EXPECT_DOUBLE_EQ(m.best_tnr, 0.75);
  EXPECT_DOUBLE_EQ(m.best_balanced, 0.775);
  EXPECT_EQ(m.best_threshold, 0.5);
  EXPECT_DOUBLE_EQ(m.f1_max, 0.8);
  EXPECT_EQ(m.f1_threshold, 0.5);
  EXPECT_DOUBLE_EQ(m.auroc, 0.75);
  EXPECT_DOUBLE_EQ(m.aupr, (1 + 1 + 0.75 + 0.8 + 0.625) / 5);
  EXPECT_EQ(m.n_normal, 4);
  EXPECT_EQ(m.n_anomalous, 5);
}

// normal 0.1 0.3, anomalous 0.2 0.4: TPR+TNR is 1.5 at both 0.4 (0.5 + 1)
// and 0.2 (1 + 0.5), 1 at 0.3 and 0.1; equals go to the higher threshold.
TEST(ImageMetrics, MvtecMeasureTiesGoToTheHighestThreshold) {
  const piade::ImageMetrics m = piade::image_metrics({0.1, 0.3, 0.2, 0.4}, {0, 0, 1, 1});
  EXPECT_EQ(m.best_threshold, 0.4);
  EXPECT_DOUBLE_EQ(m.best_tpr, 0.5);
  EXPECT_DOUBLE_EQ(m.best_tnr, 1.0);
  EXPECT_DOUBLE_EQ(m.best_balanced, 0.75);
}

// F1-max with tied scores and a threshold unlike the MVTec measure's.
//   (score, label): (0.9,1) (0.8,0) (0.8,1) (0.6,0) (0.4,1) (0.3,0) (0.2,1)
//   (0.2,0) (0.1,0) (0.05,1): P = 5, N = 5
//   t     TP FP  F1 = 2TP/(TP+FP+P)   TPR - FPR
//   0.9   1  0   2/6  = 0.333         0.2
//   0.8   2  1   4/8  = 0.5           0.2
//   0.6   2  2   4/9  = 0.444         0
//   0.4   3  2   6/10 = 0.6           0.2
//   0.3   3  3   6/11 = 0.545         0
//   0.2   4  4   8/13 = 0.615         0
//   0.1   4  5   8/14 = 0.571         -0.2
//   0.05  5  5   10/15 = 0.667 max    0
// So F1-max = 2/3 at 0.05 (everything flagged), while TPR - FPR peaks at
// 0.2, first (highest) at 0.9: TPR 0.2, TNR 1.
TEST(ImageMetrics, F1MaxOnAHandCase) {
  const std::vector<double> scores{0.9, 0.8, 0.8, 0.6, 0.4, 0.3, 0.2, 0.2, 0.1, 0.05};
  const std::vector<int> labels{1, 0, 1, 0, 1, 0, 1, 0, 0, 1};
  const piade::ImageMetrics m = piade::image_metrics(scores, labels);
  EXPECT_DOUBLE_EQ(m.f1_max, 2.0 / 3.0);
  EXPECT_EQ(m.f1_threshold, 0.05);
  EXPECT_EQ(m.best_threshold, 0.9);
  EXPECT_DOUBLE_EQ(m.best_tpr, 0.2);
  EXPECT_DOUBLE_EQ(m.best_tnr, 1.0);

  // Without the last anomaly (P = 4) F1 is 2/3 both at 0.4 (6/(3+2+4)) and
  // at 0.2 (8/(4+4+4)), the maximum; ties go to the higher threshold, 0.4.
  const piade::ImageMetrics tie = piade::image_metrics({0.9, 0.8, 0.8, 0.6, 0.4, 0.3, 0.2, 0.2, 0.1},
                                                       {1, 0, 1, 0, 1, 0, 1, 0, 0});
  EXPECT_DOUBLE_EQ(tie.f1_max, 2.0 / 3.0);
  EXPECT_EQ(tie.f1_threshold, 0.4);
}

// `piade eval --calibrate` on the hand case of MvtecMeasureOnAHandCase:
// normal 0.1 0.3 0.35 0.7, anomalous 0.2 0.5 0.6 0.8 0.9. F1 and TPR + TNR
// both peak at 0.5 (score >= 0.5 flagged: TPR 0.8, TNR 0.75); the stored
// threshold sits just below it, so that piade's `score > threshold` makes
// the same decisions.
TEST(Calibration, ChoosesTheMetricsThresholdsAndAPercentileOfTheNormalScores) {
  const std::vector<double> scores{0.1, 0.3, 0.35, 0.7, 0.2, 0.5, 0.6, 0.8, 0.9};
  const std::vector<int> labels{0, 0, 0, 0, 1, 1, 1, 1, 1};
  const piade::ImageMetrics m = piade::image_metrics(scores, labels);
  for (const char* method : {"f1", "balanced"}) {
    const piade::Calibration c = piade::calibrate_threshold(piade::parse_threshold_method(method), m, scores, labels);
    EXPECT_EQ(c.metric_threshold, 0.5) << method;
    EXPECT_LT(c.threshold, 0.5) << method;
    EXPECT_EQ(c.threshold, std::nextafter(0.5, 0.0)) << method;
    EXPECT_DOUBLE_EQ(c.tpr, 0.8) << method;
    EXPECT_DOUBLE_EQ(c.tnr, 0.75) << method;
    EXPECT_EQ(c.method.text(), method);
  }
  // Nearest rank of the 4 normal scores: P=50 -> rank 2 (0.35), P=100 -> 0.7.
  piade::Calibration c = piade::calibrate_threshold(piade::parse_threshold_method("percentile:50"), m, scores, labels);
  EXPECT_EQ(c.threshold, 0.35);
  EXPECT_DOUBLE_EQ(c.tnr, 0.75);
  EXPECT_DOUBLE_EQ(c.tpr, 0.8);
  c = piade::calibrate_threshold(piade::parse_threshold_method("percentile:100"), m, scores, labels);
  EXPECT_EQ(c.threshold, 0.7);
  EXPECT_DOUBLE_EQ(c.tnr, 1.0);
  EXPECT_EQ(c.method.text(), "percentile:100");

  const piade::StoredThreshold previous{0.66, "training-p99", "99th percentile of training-set scores"};
  const json record = piade::calibration_record(c, "MVTec AD tile", "mvtec", 4, 5, "2026-12-01T10:00:00Z", previous);
  EXPECT_EQ(record["threshold"], 0.7);
  EXPECT_EQ(record["method"], "percentile:100");
  EXPECT_EQ(record["rule"],
            "percentile 100 of the normal images' scores on MVTec AD tile (4 normal, 5 anomalous images)");
  EXPECT_EQ(record["previous_threshold"], 0.66);
  EXPECT_EQ(record["previous_method"], "training-p99");
  EXPECT_EQ(record["n_normal"], 4);
  EXPECT_EQ(record["time"], "2026-12-01T10:00:00Z");
}

TEST(Calibration, MethodsAreReadOnceWithTheChoicesInErrors) {
  EXPECT_EQ(piade::parse_threshold_method("balanced").kind, piade::ThresholdMethod::balanced);
  EXPECT_EQ(piade::parse_threshold_method("percentile:99.5").percent, 99.5);
  EXPECT_EQ(piade::parse_threshold_method("percentile:99.5").text(), "percentile:99.5");
  auto error = [](const std::string& text) {
    try {
      piade::parse_threshold_method(text);
    } catch (const piade::Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error("f2"), "'f2' is not a calibration method; use f1, balanced or percentile:P (0 < P <= 100), did "
                         "you mean 'f1'?");
  for (const char* bad : {"percentile:0", "percentile:101", "percentile:", "percentile:9x"})
    EXPECT_NE(error(bad).find("the percentile must be a number in (0, 100]"), std::string::npos) << bad;
}

TEST(ImageMetrics, MonotoneTransformsAndOrderLeaveTheRankMeasuresUnchanged) {
  for (const Case& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const piade::ImageMetrics base = piade::image_metrics(c.scores, c.labels);
    std::vector<double> transformed, reversed_scores(c.scores.rbegin(), c.scores.rend());
    for (double s : c.scores) transformed.push_back(std::exp(s / 2) * 3 + 1);
    const std::vector<int> reversed_labels(c.labels.rbegin(), c.labels.rend());
    for (const piade::ImageMetrics& m : {piade::image_metrics(transformed, c.labels),
                                         piade::image_metrics(reversed_scores, reversed_labels)}) {
      EXPECT_NEAR(m.auroc, base.auroc, kTol);
      EXPECT_NEAR(m.aupr, base.aupr, kTol);
      EXPECT_NEAR(m.best_balanced, base.best_balanced, kTol);
      EXPECT_NEAR(m.f1_max, base.f1_max, kTol);
      EXPECT_EQ(m.roc.x, base.roc.x);
      EXPECT_EQ(m.roc.y, base.roc.y);
    }
    // Negating the scores mirrors the ROC: AUROC becomes 1 - AUROC.
    std::vector<double> negated;
    for (double s : c.scores) negated.push_back(-s);
    EXPECT_NEAR(piade::auroc(negated, c.labels), 1 - base.auroc, kTol);
  }
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const piade::Error& e) {
    return e.what();
  }
  return "no piade::Error";
}

TEST(ImageMetrics, BadInputsAreErrorsNamingTheProblem) {
  EXPECT_EQ(error_of([] { piade::image_metrics({0.1, 0.2, 0.3}, {0, 0, 0}); }),
            "image metrics: no anomalous images among the 3 given, the measures need both normal and "
            "anomalous images");
  EXPECT_EQ(error_of([] { piade::auroc({0.1, 0.2}, {1, 1}); }),
            "image metrics: no normal images among the 2 given, the measures need both normal and "
            "anomalous images");
  EXPECT_EQ(error_of([] { piade::image_metrics({}, {}); }),
            "image metrics: no anomalous images among the 0 given, the measures need both normal and "
            "anomalous images");
  EXPECT_EQ(error_of([] { piade::image_metrics({0.1, std::nan(""), 0.3}, {0, 1, 1}); }),
            "image metrics: score 1 is nan, scores must be finite numbers");
  EXPECT_EQ(error_of([] { piade::auroc({0.1, 0.2, -HUGE_VAL}, {0, 1, 1}); }),
            "image metrics: score 2 is -inf, scores must be finite numbers");
  EXPECT_EQ(error_of([] { piade::image_metrics({0.1, 0.2, 0.3}, {0, 1}); }),
            "image metrics: 3 scores but 2 labels, give one label per score");
  EXPECT_EQ(error_of([] { piade::image_metrics({0.1, 0.2, 0.3}, {0, 1, 2}); }),
            "image metrics: label 2 is 2, labels must be 0 (normal) or 1 (anomalous)");
}

TEST(ImageMetrics, CurvesAsCsv) {
  const piade::ImageMetrics m = piade::image_metrics({0.25, 0.5, 0.5, 1.0}, {0, 0, 1, 1});
  EXPECT_EQ(piade::curve_csv(m.roc, "fpr", "tpr"),
            "threshold,fpr,tpr\n"
            "inf,0,0\n"
            "1,0,0.5\n"
            "0.5,0.5,1\n"
            "0.25,1,1\n");
  EXPECT_EQ(piade::curve_csv(m.pr, "recall", "precision"),
            "threshold,recall,precision\n"
            "0.25,1,0.5\n"
            "0.5,1,0.6666666666666666\n"
            "1,0.5,1\n"
            "inf,0,1\n");
}

// ---------------------------------------------------------------------------
// Pixel measures.

/// Two 4x4 images. Image 0: region R1 = the top-left 2x2 block (4 pixels).
/// Image 1: region R2 = pixels (2,2) and (3,3), which touch only at a
/// corner: one region with 8-connectivity (two with 4-connectivity).
/// Normal pixels: 32 - 6 = 26.
void hand_case(torch::Tensor& maps, torch::Tensor& masks) {
  const float map_values[2][4][4] = {
      {{0.9f, 0.9f, 0, 0.7f}, {0.5f, 0.2f, 0, 0}, {0, 0.4f, 0.3f, 0}, {0.2f, 0, 0, 0.2f}},
      {{0.5f, 0, 0.4f, 0}, {0, 0.3f, 0, 0}, {0.2f, 0, 0.8f, 0}, {0, 0.2f, 0, 0.3f}}};
  const uint8_t mask_values[2][4][4] = {{{1, 1, 0, 0}, {1, 1, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},
                                        {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 255, 0}, {0, 0, 0, 255}}};
  maps = torch::from_blob(const_cast<float*>(&map_values[0][0][0]), {2, 4, 4}, torch::kFloat).clone();
  masks = torch::from_blob(const_cast<uint8_t*>(&mask_values[0][0][0]), {2, 4, 4}, torch::kUInt8).clone();
}

// PRO by hand. R1 values 0.9 0.9 0.5 0.2, R2 values 0.8 0.3; the 26 normal
// pixels: 0.7, 0.5, 0.4 x2, 0.3 x2, 0.2 x4, 0 x16.
//   t     R1 in  R2 in  PRO = (R1/4 + R2/2)/2   FP  FPR
//   0.9   2      0      0.25                    0   0
//   0.8   2      1      0.5                     0   0
//   0.7   2      1      0.5                     1   1/26
//   0.5   3      1      0.625                   2   2/26
//   0.4   3      1      0.625                   4   4/26
//   0.3   3      2      0.875                   6   6/26
//   0.2   4      2      1                       10  10/26
//   0     4      2      1                       26  1
// Trapezoids (in units of 1/26) from (0,0): 0, 0, 1*0.5 = 0.5,
// 1*(0.5+0.625)/2 = 0.5625, 2*0.625 = 1.25, 2*(0.625+0.875)/2 = 1.5;
// FPR 0.3 = 7.8/26 lies on the next segment (6 -> 10): PRO there =
// 0.875 + 0.125 * 1.8/4 = 0.93125, area 1.8*(0.875+0.93125)/2 = 1.625625.
// Sum 5.438125/26, normalised by 0.3: 5.438125/7.8.
// Up to FPR 1: 3.8125 + 4*(0.875+1)/2 + 16*1 = 23.5625, /26 = 0.90625.
// Up to FPR 2/26 (a curve point): (0.5 + 0.5625)/26 / (2/26) = 0.53125.
// Pixel AUROC: pairs (defect, normal) with defect above, ties 1/2:
// 0.9: 26 x2, 0.8: 26, 0.5: 24 + 1/2, 0.3: 20 + 2/2, 0.2: 16 + 4/2
// = 141.5 of 6*26 = 156 pairs.
TEST(PixelMetrics, ProAndPixelAurocOnAHandCase) {
  torch::Tensor maps, masks;
  hand_case(maps, masks);
  const piade::PixelMetrics m = piade::pixel_metrics(maps, masks);
  EXPECT_EQ(m.n_regions, 2);
  EXPECT_EQ(m.max_fpr, 0.3);
  EXPECT_NEAR(m.pro_auc, 5.438125 / 7.8, kTol);
  EXPECT_NEAR(m.pixel_auroc, 141.5 / 156, kTol);
  EXPECT_NEAR(piade::pixel_metrics(maps, masks, 1.0).pro_auc, 0.90625, kTol);
  EXPECT_NEAR(piade::pixel_metrics(maps, masks, 2.0 / 26).pro_auc, 0.53125, kTol);
  // Masks in another type, maps in double: same result.
  const piade::PixelMetrics other = piade::pixel_metrics(maps.to(torch::kDouble), masks.to(torch::kFloat) / 255);
  EXPECT_EQ(other.pro_auc, m.pro_auc);
  EXPECT_EQ(other.pixel_auroc, m.pixel_auroc);
}

/// Random maps with tied values (multiples of 1/32) and masks made of
/// rectangles and diagonal strokes; every third image is defect-free.
void random_case(int64_t n, int64_t h, int64_t w, uint64_t seed, torch::Tensor& maps, torch::Tensor& masks) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> row(0, h - 1), col(0, w - 1), extent(1, std::max<int64_t>(2, h / 6));
  masks = torch::zeros({n, h, w}, torch::kUInt8);
  auto a = masks.accessor<uint8_t, 3>();
  for (int64_t i = 0; i < n; ++i) {
    if (i % 3 == 2) continue;
    for (int k = 0; k < 3; ++k) {
      const int64_t y = row(rng), x = col(rng), dy = extent(rng), dx = extent(rng);
      for (int64_t r = y; r < std::min(h, y + dy); ++r)
        for (int64_t c = x; c < std::min(w, x + dx); ++c) a[i][r][c] = 1;
    }
    const int64_t y = row(rng), x = col(rng);
    for (int64_t d = 0; d < extent(rng) && y + d < h && x + d < w; ++d) a[i][y + d][x + d] = 1;
  }
  torch::manual_seed(seed);
  maps = torch::round((torch::rand({n, h, w}) + 0.4 * masks.to(torch::kFloat)) * 32) / 32;
}

void expect_matches_reference(const torch::Tensor& maps, const torch::Tensor& masks, double max_fpr,
                              const std::string& name) {
  const fs::path map_file = scratch() / (name + ".f32"), mask_file = scratch() / (name + ".u8");
  const torch::Tensor m32 = maps.to(torch::kFloat).contiguous(), m8 = masks.ne(0).to(torch::kUInt8).contiguous();
  write_text(map_file, std::string(static_cast<const char*>(m32.data_ptr()), m32.numel() * sizeof(float)));
  write_text(mask_file, std::string(static_cast<const char*>(m8.data_ptr()), m8.numel()));
  const json ref = run_reference(name, kPixelScript,
                                 {{"maps", map_file.string()},
                                  {"masks", mask_file.string()},
                                  {"shape", maps.sizes().vec()},
                                  {"max_fpr", max_fpr}});
  const piade::PixelMetrics m = piade::pixel_metrics(maps, masks, max_fpr);
  EXPECT_NEAR(m.pixel_auroc, ref["auroc"].get<double>(), kTol);
  EXPECT_NEAR(m.pro_auc, ref["pro"].get<double>(), 1e-10);
  EXPECT_EQ(m.n_regions, ref["n_regions"].get<int64_t>());
}

TEST(PixelMetrics, MatchScikitLearnAndTheMvtecProCodeOnRandomMaps) {
  torch::Tensor maps, masks;
  random_case(6, 40, 50, 7, maps, masks);
  {
    SCOPED_TRACE("max FPR 0.3");
    expect_matches_reference(maps, masks, 0.3, "pixel_a");
  }
  {
    SCOPED_TRACE("max FPR 0.05");
    expect_matches_reference(maps, masks, 0.05, "pixel_b");
  }
  // Continuous values, no ties, a larger set.
  random_case(9, 120, 100, 8, maps, masks);
  maps = maps + torch::rand(maps.sizes()) * 1e-3;
  {
    SCOPED_TRACE("continuous");
    expect_matches_reference(maps, masks, 0.3, "pixel_c");
  }
}

void expect_points(const piade::Curve& curve, const std::vector<std::array<double, 3>>& expected) {
  ASSERT_EQ(curve.x.size(), expected.size());
  ASSERT_EQ(curve.y.size(), expected.size());
  ASSERT_EQ(curve.thresholds.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(curve.x[i], expected[i][0], kTol) << i;
    EXPECT_NEAR(curve.y[i], expected[i][1], kTol) << i;
    if (std::isinf(expected[i][2]))
      EXPECT_TRUE(std::isinf(curve.thresholds[i])) << i;
    else
      EXPECT_FLOAT_EQ(static_cast<float>(curve.thresholds[i]), static_cast<float>(expected[i][2])) << i;
  }
}

// The hand case's curves, point by point (see the table above).
TEST(PixelMetrics, CurvesOfTheHandCase) {
  torch::Tensor maps, masks;
  hand_case(maps, masks);
  const double inf = std::numeric_limits<double>::infinity(), n = 26;
  const piade::PixelMetrics m = piade::pixel_metrics(maps, masks);
  expect_points(m.roc, {{0, 0, inf}, {0, 2.0 / 6, 0.9}, {0, 3.0 / 6, 0.8}, {1 / n, 3.0 / 6, 0.7},
                        {2 / n, 4.0 / 6, 0.5}, {4 / n, 4.0 / 6, 0.4}, {6 / n, 5.0 / 6, 0.3}, {10 / n, 1, 0.2},
                        {1, 1, 0}});
  // PRO up to FPR 0.3, its last point interpolated at 0.3 on the segment
  // that crosses it (threshold 0.2).
  expect_points(m.pro, {{0, 0, inf}, {0, 0.25, 0.9}, {0, 0.5, 0.8}, {1 / n, 0.5, 0.7}, {2 / n, 0.625, 0.5},
                        {4 / n, 0.625, 0.4}, {6 / n, 0.875, 0.3}, {0.3, 0.93125, 0.2}});
  const piade::PixelMetrics whole = piade::pixel_metrics(maps, masks, 1.0);
  ASSERT_EQ(whole.pro.x.size(), 9u);
  EXPECT_NEAR(whole.pro.x[7], 10 / n, kTol);
  EXPECT_EQ(whole.pro.x[8], 1.0);
  EXPECT_EQ(whole.pro.y[8], 1.0);
}

// On 108,000 mostly distinct values the curves are thinned to a few
// thousand points, every one of them on scikit-learn's ROC curve and the
// MVTec code's PRO curve, monotone, from (0, 0) to their ends.
TEST(PixelMetrics, ThinnedCurvesKeepExactPoints) {
  torch::Tensor maps, masks;
  random_case(9, 120, 100, 8, maps, masks);
  maps = maps + torch::rand(maps.sizes()) * 1e-3;
  const double max_fpr = 0.3;
  const piade::PixelMetrics m = piade::pixel_metrics(maps, masks, max_fpr);
  for (const piade::Curve* curve : {&m.roc, &m.pro}) {
    EXPECT_GT(curve->x.size(), 100u);
    EXPECT_LT(curve->x.size(), 4100u);
    EXPECT_EQ(curve->x.front(), 0.0);
    EXPECT_EQ(curve->y.front(), 0.0);
    for (std::size_t i = 1; i < curve->x.size(); ++i) {
      ASSERT_GE(curve->x[i], curve->x[i - 1]) << i;
      ASSERT_GE(curve->y[i], curve->y[i - 1]) << i;
      ASSERT_LT(curve->thresholds[i], curve->thresholds[i - 1]) << i;
    }
  }
  EXPECT_EQ(m.roc.x.back(), 1.0);
  EXPECT_EQ(m.roc.y.back(), 1.0);
  EXPECT_DOUBLE_EQ(m.pro.x.back(), max_fpr);

  json roc_points = json::array(), pro_points = json::array();
  for (std::size_t i = 0; i < m.roc.x.size(); ++i) roc_points.push_back({m.roc.x[i], m.roc.y[i]});
  for (std::size_t i = 0; i + 1 < m.pro.x.size(); ++i) pro_points.push_back({m.pro.x[i], m.pro.y[i]});  // last: interpolated
  const fs::path map_file = scratch() / "thin.f32", mask_file = scratch() / "thin.u8";
  const torch::Tensor m32 = maps.to(torch::kFloat).contiguous(), m8 = masks.ne(0).to(torch::kUInt8).contiguous();
  write_text(map_file, std::string(static_cast<const char*>(m32.data_ptr()), m32.numel() * sizeof(float)));
  write_text(mask_file, std::string(static_cast<const char*>(m8.data_ptr()), m8.numel()));
  const json ref = run_reference("thin", kPixelScript,
                                 {{"maps", map_file.string()},
                                  {"masks", mask_file.string()},
                                  {"shape", maps.sizes().vec()},
                                  {"max_fpr", max_fpr},
                                  {"roc_points", roc_points},
                                  {"pro_points", pro_points}});
  EXPECT_EQ(ref["roc_missing"].size(), 0u) << ref["roc_missing"].dump().substr(0, 500);
  EXPECT_EQ(ref["pro_missing"].size(), 0u) << ref["pro_missing"].dump().substr(0, 500);
}

TEST(PixelMetrics, PerfectMapsScoreOneAndMonotoneTransformsChangeNothing) {
  torch::Tensor maps, masks;
  random_case(4, 32, 32, 3, maps, masks);
  const piade::PixelMetrics perfect = piade::pixel_metrics(masks.to(torch::kFloat), masks);
  EXPECT_EQ(perfect.pixel_auroc, 1.0);
  EXPECT_EQ(perfect.pro_auc, 1.0);
  EXPECT_EQ(piade::pixel_metrics(-masks.to(torch::kFloat), masks).pixel_auroc, 0.0);

  // Maps are multiples of 1/32 in [0, 1.5]: x -> 2x - 3 and x -> x^3 are
  // exact in float and keep the order (and every tie).
  const piade::PixelMetrics base = piade::pixel_metrics(maps, masks);
  for (const torch::Tensor& t : {maps * 2 - 3, maps.pow(3)}) {
    const piade::PixelMetrics m = piade::pixel_metrics(t, masks);
    EXPECT_EQ(m.pixel_auroc, base.pixel_auroc);
    EXPECT_NEAR(m.pro_auc, base.pro_auc, kTol);
  }
  // Image order does not matter either.
  EXPECT_EQ(piade::pixel_metrics(maps.flip(0), masks.flip(0)).pixel_auroc, base.pixel_auroc);
}

TEST(PixelMetrics, ThreeMillionPixelsMatchTheReferences) {
  torch::Tensor maps, masks;
  random_case(12, 500, 500, 11, maps, masks);
  maps = maps + torch::rand(maps.sizes()) * 0.01;  // mostly distinct values
  ASSERT_EQ(maps.numel(), 3000000);
  // Its speed is measured in benchmarks/host_bench.cpp (BM_PixelMetrics).
  const piade::PixelMetrics m = piade::pixel_metrics(maps, masks);
  // Defect pixels are U(0,1) + 0.4 + small noise, normal ones U(0,1): AUROC
  // = P(U + 0.4 > U') = 1 - 0.6^2/2 = 0.82 up to sampling.
  EXPECT_NEAR(m.pixel_auroc, 0.82, 0.01);
  // And exactly as the references at this size (summation error included).
  expect_matches_reference(maps, masks, 0.3, "pixel_big");
}

TEST(PixelMetrics, BadInputsAreErrorsNamingTheProblem) {
  torch::Tensor maps, masks;
  hand_case(maps, masks);
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(maps, masks.slice(2, 0, 3)); }),
            "pixel metrics: anomaly maps [2, 4, 4] and masks [2, 4, 3] differ in shape, give one mask of the "
            "map's size per image");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(maps[0], masks[0]); }),
            "pixel metrics: anomaly maps have shape [4, 4], expected [N,H,W]");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(maps, torch::zeros_like(masks)); }),
            "pixel metrics: the masks have no defect pixel, pixel AUROC and PRO need anomalous images with "
            "ground-truth masks");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(maps, torch::ones_like(masks)); }),
            "pixel metrics: the masks have no defect-free pixel, pixel AUROC and PRO need normal pixels");
  torch::Tensor with_nan = maps.clone();
  with_nan[1][2][3] = std::nanf("");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(with_nan, masks); }),
            "pixel metrics: anomaly map 1 has value nan at pixel (2, 3), maps must be finite");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(maps, masks, 0); }),
            "pixel metrics: max FPR 0 is outside (0, 1], give e.g. 0.3");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(maps, masks, 1.5); }),
            "pixel metrics: max FPR 1.5 is outside (0, 1], give e.g. 0.3");
  EXPECT_EQ(error_of([&] { piade::pixel_metrics(masks, masks); }),
            "pixel metrics: anomaly maps are Byte, expected a floating point tensor");
}

}  // namespace
