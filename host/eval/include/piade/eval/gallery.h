// Which test images `piade eval` draws, what their pictures are called and
// what the text under each says. Strings and indices only: the drawing is
// piade/eval/pictures.h's.
//
// Conventions as piade/eval/metrics.h: label 1 = anomalous, 0 = normal; a
// higher score is more anomalous.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace piade {

/// How an image is judged from its score: anomalous above `threshold`, or
/// at or above it when `inclusive` (as the metrics' curves count a
/// threshold, e.g. the F1-max one); a checkpoint's stored threshold is
/// exclusive, as `piade score` applies it.
struct Decision {
  double threshold = std::numeric_limits<double>::quiet_NaN();  ///< NaN: no threshold, no decision
  bool inclusive = false;
  std::string source;  ///< where the threshold comes from: "stored", "F1-max"
  bool known() const { return !std::isnan(threshold); }
  bool anomalous(double score) const { return inclusive ? score >= threshold : score > threshold; }
};

/// The four outcomes of a decision on a labelled image.
enum class Outcome { true_positive, false_negative, false_positive, true_negative };

/// "true_positive", "false_negative", "false_positive", "true_negative".
const char* outcome_name(Outcome outcome);

/// The outcome of `decision` on an image of `label` (1 anomalous) scoring `score`.
Outcome outcome_of(const Decision& decision, int label, double score);

struct ChosenPicture {
  int64_t index = 0;  ///< into the scores
  Outcome outcome = Outcome::true_negative;
};

/// The test images to draw: for each label, up to `per_label` of its
/// images, its errors first, worst first (normal images flagged anomalous,
/// highest score first; anomalous images passed as normal, lowest score
/// first; ties by index), then a seeded sample of its correctly judged
/// images in index order, so that typical cases are shown too. Normal images
/// come first, then anomalous ones. `decision` must be known; throws
/// piade::Error when the sizes differ, a label is not 0 or 1, or
/// `per_label` is negative.
std::vector<ChosenPicture> choose_pictures(const std::vector<double>& scores, const std::vector<int>& labels,
                                           const Decision& decision, int64_t per_label, uint64_t seed);

/// What an image is, for its picture's name: "good" for a normal image
/// (label 0); for an anomalous one its class (`test_class`, e.g.
/// "dress", when given), else the directory its file is in (MVTec AD's
/// defect type, "crack"), else "anomalous".
std::string image_kind(const std::string& id, int label, const std::string& test_class = "");

/// The short name of an image id: the record index of "<file>#<index>",
/// else the file's stem.
std::string image_stem(const std::string& id);

/// "<outcome>_<kind>_<stem>.png", e.g. "false_negative_crack_003.png", with
/// every character outside [A-Za-z0-9_-] of kind and stem made '_'.
std::string picture_file_name(Outcome outcome, const std::string& kind, const std::string& stem);

/// The lines of the text band under an image's picture: its raw score, and
/// its normalized score when given; its label (1 anomalous, 0 normal,
/// anything else unknown) and the decision; the threshold and where it comes
/// from. E.g. {"score 0.0123457  normalized 0.912", "label anomalous,
/// decision anomalous", "threshold 0.0104 (stored, score > threshold)"}.
std::vector<std::string> picture_text(double score, std::optional<double> normalized, int label,
                                      const Decision& decision);

}  // namespace piade
