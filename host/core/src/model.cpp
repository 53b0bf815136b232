#include "piade/core/model.h"

#include <fmt/format.h>

#include "piade/core/contract.h"
#include "piade/core/precision.h"

namespace piade {
namespace {

// Runs one step of building `component` (its factory, its output_shape)
// and names the component in any error, on one line: a TORCH_CHECK that
// fails in a plugin would otherwise bring LibTorch's backtrace along.
template <class Step>
auto building(const ComponentInfo& component, Step&& step) -> decltype(step()) {
  try {
    return step();
  } catch (const Error&) {
    throw;  // the registry's errors name the component already
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}", component.id(), one_line_message(e)));
  }
}

}  // namespace

PiadeModelImpl::PiadeModelImpl(const PluginRegistry& registry, const PipelineConfig& config,
                               ImageShape image, bool restoring)
    : image_(image) {
  ComponentContext context;
  context.image = image;
  context.restoring = restoring;

  const ComponentInfo& backbone = *config.backbone.component;
  context.params = config.backbone.params;
  backbone_ = building(backbone, [&] { return registry.create_as<Backbone>(backbone, context); });
  context.features = features_ = building(backbone, [&] { return backbone_->output_shape(image); });

  const ComponentInfo& pooling = *config.pooling.component;
  context.params = config.pooling.params;
  pooling_ = building(pooling, [&] { return registry.create_as<Pooling>(pooling, context); });
  context.capsules = capsules_ = building(pooling, [&] { return pooling_->output_shape(*context.features); });

  const ComponentInfo& routing = *config.routing.component;
  context.params = config.routing.params;
  routing_ = building(routing, [&] { return registry.create_as<Routing>(routing, context); });
  context.vectors = vectors_ = building(routing, [&] { return routing_->output_shape(*context.capsules); });

  const ComponentInfo& decoder = *config.decoder.component;
  context.params = config.decoder.params;
  decoder_ = building(decoder, [&] { return registry.create_as<Decoder>(decoder, context); });
  backbone_label_ = component_label(backbone);
  pooling_label_ = component_label(pooling);
  routing_label_ = component_label(routing);
  decoder_label_ = component_label(decoder);

  // Names here are the prefixes of every tensor in checkpoints and exports.
  register_module("backbone", std::dynamic_pointer_cast<torch::nn::Module>(backbone_));
  register_module("pooling", std::dynamic_pointer_cast<torch::nn::Module>(pooling_));
  register_module("routing", std::dynamic_pointer_cast<torch::nn::Module>(routing_));
  register_module("decoder", std::dynamic_pointer_cast<torch::nn::Module>(decoder_));

  for (const PartConfig& loss : config.losses) {
    ComponentContext loss_context;
    loss_context.image = image;
    loss_context.restoring = restoring;
    loss_context.params = loss.params;
    losses_.push_back(building(*loss.component, [&] { return registry.create_as<Loss>(*loss.component, loss_context); }));
    loss_names_.push_back(loss.component->name);
    loss_labels_.push_back(component_label(*loss.component));
    loss_weights_.push_back(loss.params.get_float("weight"));
    register_module("loss_" + loss.component->name,
                    std::dynamic_pointer_cast<torch::nn::Module>(losses_.back()));
  }
}

bool PiadeModelImpl::take_contract_check(bool with_maps) {
  const std::size_t mode = is_training() ? 0 : with_maps ? 2 : 1;
  return !contract_checked_[mode].exchange(true);
}

Reconstruction PiadeModelImpl::reconstruct(const torch::Tensor& images) {
  return reconstruct(images, take_contract_check(/*with_maps=*/false));
}

Reconstruction PiadeModelImpl::reconstruct(const torch::Tensor& images, bool check_values) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == image_.channels &&
                  images.size(2) == image_.height && images.size(3) == image_.width,
              "model: expected images N x ", image_.channels, "x", image_.height, "x",
              image_.width, ", got ", shape_text(images));
  const int64_t n = images.size(0);
  torch::Tensor features = backbone_->forward(images);
  check_features(backbone_label_, features, n, features_);
  if (check_values) check_finite(backbone_label_, "features", features);
  torch::Tensor capsules = pooling_->forward(features);
  check_capsules(pooling_label_, capsules, n, capsules_);
  if (check_values) check_finite(pooling_label_, "capsules", capsules);
  torch::Tensor vectors = routing_->forward(capsules);
  check_vectors(routing_label_, vectors, n, vectors_);
  if (check_values) check_finite(routing_label_, "vectors", vectors);
  VectorSelection chosen = routing_->select(vectors);
  check_selection(routing_label_, chosen.vectors, chosen.index, n, vectors_);
  torch::Tensor reconstructions = decoder_->forward(chosen.vectors, features);
  check_reconstructions(decoder_label_, reconstructions, images);
  if (check_values) check_finite(decoder_label_, "reconstructions", reconstructions);
  return {images, reconstructions, chosen.index};
}

BatchScores PiadeModelImpl::score(const torch::Tensor& images, bool with_maps) {
  // Loss terms may skip their maps in training mode (sdk/loss.h).
  TORCH_CHECK(!with_maps || !is_training(), "model: anomaly maps need eval mode; call eval() first");
  BatchScores scores;
  const bool check_values = take_contract_check(with_maps);
  scores.reconstruction = reconstruct(images, check_values);
  // The loss terms run in fp32 whatever the caller's autocast (precision.h),
  // and so do the reconstructions the scores hand back.
  AutocastSuspended fp32;
  Reconstruction& reconstruction = scores.reconstruction;
  reconstruction.images = reconstruction.images.to(torch::kFloat);
  reconstruction.reconstructions = reconstruction.reconstructions.to(torch::kFloat);
  const torch::Tensor& x = reconstruction.images;
  const torch::Tensor& y = reconstruction.reconstructions;
  scores.total = torch::zeros({images.size(0)}, images.options());
  for (std::size_t i = 0; i < losses_.size(); ++i) {
    LossTerm term = losses_[i]->forward(x, y);
    check_loss_term(loss_labels_[i], term, images.size(0), image_);
    if (check_values) {
      check_finite(loss_labels_[i], "per-image loss", term.per_image);
      check_finite(loss_labels_[i], "map", term.map);
    }
    scores.total = scores.total + loss_weights_[i] * term.per_image;
    scores.terms.push_back(term.per_image);
    if (with_maps && term.map.defined()) {
      torch::Tensor weighted = loss_weights_[i] * term.map;
      scores.map = scores.map.defined() ? scores.map + weighted : weighted;
    }
  }
  return scores;
}

}  // namespace piade
