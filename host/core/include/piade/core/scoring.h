// Scoring a whole image set with a trained model (the anomaly score is the
// loss of eq. 5, sec. 3.4), and the statistics of training-set scores that a
// checkpoint stores for its decision threshold.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "piade/core/model.h"
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
ScoreTable score_all(PiadeModel& model, const torch::Tensor& images_uint8, const Preprocess& preprocess,
                      int64_t batch_size, const torch::Device& device, const ScoreVisitor& visit = {});

/// Summary statistics of training-set scores, stored in the checkpoint: the
/// decision threshold is their 99th percentile.
nlohmann::json score_statistics(const torch::Tensor& scores);

/// Statistics of the training images' anomaly maps, stored in the checkpoint
/// as `map_stats`, from each image's largest map value [N]: `max_p99`, their
/// 99th percentile, is the top of the colour scale of anomaly-map pictures
/// (a normal image rarely reaches it; see host/pictures.h).
nlohmann::json map_statistics(const torch::Tensor& image_maxima);

}  // namespace piade
