// Scoring a whole image set with a trained model (the anomaly score is the
// loss of eq. 5, sec. 3.4), and the statistics of training-set scores that a
// checkpoint stores for its decision threshold.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "piade/core/model.h"
#include "piade/datasets/dataset.h"
#include "piade/datasets/transforms.h"

namespace piade {

/// Every image's scores, from score_all.
struct ScoreTable {
  torch::Tensor total;                ///< [N]
  std::vector<torch::Tensor> terms;   ///< per term, [N]
  torch::Tensor vector_index;         ///< [N]
};
/// Sees each batch's full BatchScores (maps included) as it is scored; `first`
/// is the index of its first image in `images_uint8`.
using ScoreVisitor = std::function<void(int64_t first, const BatchScores& scores)>;
/// With `visit`, the model also computes the anomaly maps and hands every
/// batch to it (pictures, per-pixel statistics) before the next one.
/// A score that is not finite (nan or inf: the weights or the image make the
/// network overflow) is never a verdict: throws piade::Error naming the image
/// by its entry in `ids` (by its index when `ids` is empty), before `visit`
/// sees its batch.
ScoreTable score_all(PiadeModel& model, const torch::Tensor& images_uint8, const Preprocess& preprocess,
                      int64_t batch_size, const torch::Device& device, const ScoreVisitor& visit = {},
                      const std::vector<std::string>& ids = {});
/// The same on an image set: a streamed set (ImageSet::source) is decoded
/// batch by batch through a Prefetcher and never held whole; `first` counts
/// rows of `images` as above, and ids default to the set's own.
ScoreTable score_all(PiadeModel& model, const ImageSet& images, const Preprocess& preprocess, int64_t batch_size,
                     const torch::Device& device, const ScoreVisitor& visit = {});

/// Summary statistics of training-set scores, stored in the checkpoint: the
/// decision threshold is their 99th percentile.
nlohmann::json score_statistics(const torch::Tensor& scores);

/// The P-th percentile (0 < P <= 100) of `scores` by the nearest rank, as
/// score_statistics takes its p99: the value at rank round(P/100 (n-1)) of
/// the sorted scores. Throws piade::Error for no scores or P outside (0, 100].
double score_percentile(std::vector<double> scores, double percent);

/// The constants of min-max normalisation around a threshold, as anomalib
/// normalises (anomalib/utils/normalization/min_max.py, `normalize`):
///   normalized = clip((raw - threshold) / (max - min) + 0.5, 0, 1),
/// so that the threshold maps to 0.5, the decision `raw > threshold` is
/// `normalized > 0.5` (up to the clipping), and the order of scores is kept.
/// `min`, `max`: the training images' scores (the checkpoint's score_stats).
struct ScoreNormalization {
  double threshold = 0;  ///< maps to 0.5; NaN: no threshold, every normalized score NaN
  double min = 0;
  double max = 0;
  /// Where min and max come from: "training scores" (score_stats.min/max),
  /// or a fallback (see score_normalization), said in `note`.
  std::string range;
  /// Empty, or one sentence saying that a fallback was used and why.
  std::string note;
  /// {"threshold", "min", "max", "range", "formula"}: what metrics.json records.
  nlohmann::json to_json() const;
};

/// The normalisation for a checkpoint's `score_stats` (as score_statistics
/// wrote it) and the threshold in effect. Fallbacks, each with a `note`:
/// statistics without min and max (or with max <= min, e.g. one training
/// image) use min = 0 and max = 2 x threshold, which maps 0 to 0 and twice
/// the threshold to 1 (scores are losses, never negative).
ScoreNormalization score_normalization(const nlohmann::json& score_stats, double threshold);

/// A raw score normalised to [0, 1] (see ScoreNormalization); NaN when the
/// threshold or the raw score is NaN.
double normalize_score(double raw, const ScoreNormalization& normalization);

/// Statistics of the training images' anomaly maps, stored in the checkpoint
/// as `map_stats`, from each image's largest map value [N]: `max_p99`, their
/// 99th percentile, is the top of the colour scale of anomaly-map pictures
/// (a normal image rarely reaches it; see host/pictures.h).
nlohmann::json map_statistics(const torch::Tensor& image_maxima);

}  // namespace piade
