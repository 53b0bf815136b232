// The PIADE network assembled from plugins (paper sec. 3, Fig. 2): backbone
// -> pooling -> routing -> select one vector -> decoder, plus the loss terms
// that are both the training objective and the anomaly score (eq. 5). It
// only wires the part interfaces together; each part lives in its plugin.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "piade/core/pipeline_config.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/backbone.h"
#include "piade/sdk/decoder.h"
#include "piade/sdk/loss.h"
#include "piade/sdk/pooling.h"
#include "piade/sdk/routing.h"

namespace piade {

struct Reconstruction {
  torch::Tensor images;           ///< [N,C,H,W] in [-1,1]
  torch::Tensor reconstructions;  ///< [N,C,H,W] in [-1,1]
  torch::Tensor vector_index;     ///< [N] which routed vector was decoded
};

/// The scores of one batch: what PiadeModel::score returns.
struct BatchScores {
  torch::Tensor total;               ///< [N] weighted sum of the terms: the anomaly score
  std::vector<torch::Tensor> terms;  ///< per loss term, [N], unweighted
  torch::Tensor map;                 ///< [N,H,W] weighted sum of the terms' maps (those that have one)
  Reconstruction reconstruction;
};

class PiadeModelImpl : public torch::nn::Module {
 public:
  /// Builds every part in order, handing each the shapes upstream of it.
  /// `restoring`: the weights will be loaded from a checkpoint next.
  PiadeModelImpl(const PluginRegistry& registry, const PipelineConfig& config, ImageShape image,
                 bool restoring = false);

  /// Every call checks the shapes of the part contract (contract.h): each
  /// part's output against its declared shape, the loss terms' per-image
  /// loss and map. The first call in training mode, and the first in eval
  /// mode, with maps and without, also check that every output is finite
  /// (once per mode: that reads values back from the device). A broken rule
  /// throws ContractError naming the part's plugin, rather than failing in
  /// the next part, after the last epoch, or not at all.
  Reconstruction reconstruct(const torch::Tensor& images);
  /// Reconstructs and evaluates every loss term; `with_maps` adds the
  /// per-pixel map (costs memory, needed for anomaly-map pictures).
  BatchScores score(const torch::Tensor& images, bool with_maps = false);

  const ImageShape& image_shape() const { return image_; }
  /// The routing part's output: how many vectors select() chooses among.
  const VectorShape& vector_shape() const { return vectors_; }
  const std::vector<std::string>& loss_names() const { return loss_names_; }
  const std::vector<double>& loss_weights() const { return loss_weights_; }
  /// Each loss term's component_label() (contract.h), as loss_names().
  const std::vector<std::string>& loss_labels() const { return loss_labels_; }

  /// The parts, for tools that look at them one by one (conformance.h).
  const std::shared_ptr<Backbone>& backbone() const { return backbone_; }
  const std::shared_ptr<Pooling>& pooling() const { return pooling_; }
  const std::shared_ptr<Routing>& routing() const { return routing_; }
  const std::shared_ptr<Decoder>& decoder() const { return decoder_; }
  const std::vector<std::shared_ptr<Loss>>& losses() const { return losses_; }

 private:
  // Whether this call is the first in its mode (training, eval, eval with
  // maps), whose values are checked; true once per mode.
  bool take_contract_check(bool with_maps);
  Reconstruction reconstruct(const torch::Tensor& images, bool check_values);

  ImageShape image_;
  FeatureShape features_;
  CapsuleShape capsules_;
  VectorShape vectors_;
  std::string backbone_label_, pooling_label_, routing_label_, decoder_label_;
  std::vector<std::string> loss_labels_;
  std::array<std::atomic<bool>, 3> contract_checked_{};
  std::shared_ptr<Backbone> backbone_;
  std::shared_ptr<Pooling> pooling_;
  std::shared_ptr<Routing> routing_;
  std::shared_ptr<Decoder> decoder_;
  std::vector<std::shared_ptr<Loss>> losses_;
  std::vector<std::string> loss_names_;
  std::vector<double> loss_weights_;
};
TORCH_MODULE(PiadeModel);

}  // namespace piade
