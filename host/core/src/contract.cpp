#include "piade/core/contract.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace piade {
namespace {

std::string sizes_text(const std::vector<int64_t>& sizes) { return fmt::format("[{}]", fmt::join(sizes, ",")); }

// Throws rule::kOutputShape unless `tensor` is `expected`; `form` is the
// symbolic shape the SDK header documents ("[N,count,dim]").
void check_shape(const std::string& label, const char* rule_name, const std::string& what, const char* form,
                 const torch::Tensor& tensor, const std::vector<int64_t>& expected, const std::string& why = "") {
  if (tensor.defined() && tensor.sizes() == at::IntArrayRef(expected)) return;
  throw ContractError(label, rule_name,
                      fmt::format("{} must be {} = {}{}, got {}", what, form, sizes_text(expected), why,
                                  shape_text(tensor)));
}

}  // namespace

ContractError::ContractError(std::string label, std::string rule, std::string detail)
    : Error(label + ": " + detail), label_(std::move(label)), rule_(std::move(rule)), detail_(std::move(detail)) {}

std::string component_label(const ComponentInfo& component) {
  if (component.plugin == nullptr || component.plugin->file.empty()) return component.id();
  return fmt::format("{} ({})", component.id(), component.plugin->file.string());
}

std::string shape_text(const torch::Tensor& tensor) {
  if (!tensor.defined()) return "undefined";
  return sizes_text(tensor.sizes().vec());
}

void check_finite(const std::string& label, const std::string& what, const torch::Tensor& tensor) {
  if (!tensor.defined() || !tensor.is_floating_point()) return;
  const torch::Tensor finite = torch::isfinite(tensor.detach());
  if (finite.all().item<bool>()) return;
  // Only on failure: where, and which value, for the message.
  const torch::Tensor flat = tensor.detach().flatten();
  const int64_t at = (~finite.flatten()).nonzero()[0][0].item<int64_t>();
  std::vector<int64_t> position;
  int64_t rest = at;
  for (int64_t d = tensor.dim() - 1; d >= 0; --d) {
    position.insert(position.begin(), rest % tensor.size(d));
    rest /= tensor.size(d);
  }
  const double value = flat[at].item<double>();
  throw ContractError(label, rule::kFinite,
                      fmt::format("{} must be finite, got {} at {} of {}", what, value, sizes_text(position),
                                  shape_text(tensor)));
}

void check_features(const std::string& label, const torch::Tensor& features, int64_t n,
                    const FeatureShape& declared) {
  check_shape(label, rule::kOutputShape, "features", "[N,K,h,w]", features,
              {n, declared.channels, declared.height, declared.width}, " (its output_shape())");
}

void check_capsules(const std::string& label, const torch::Tensor& capsules, int64_t n,
                    const CapsuleShape& declared) {
  check_shape(label, rule::kOutputShape, "capsules", "[N,count,dim]", capsules, {n, declared.count, declared.dim},
              " (its output_shape())");
}

void check_vectors(const std::string& label, const torch::Tensor& vectors, int64_t n, const VectorShape& declared) {
  check_shape(label, rule::kOutputShape, "vectors", "[N,V,D]", vectors, {n, declared.count, declared.dim},
              " (its output_shape())");
}

void check_selection(const std::string& label, const torch::Tensor& vector, const torch::Tensor& index, int64_t n,
                     const VectorShape& declared) {
  check_shape(label, rule::kOutputShape, "the selected vector (select())", "[N,D]", vector, {n, declared.dim});
  check_shape(label, rule::kOutputShape, "the selected index (select())", "[N]", index, {n});
}

void check_reconstructions(const std::string& label, const torch::Tensor& reconstructions,
                           const torch::Tensor& images) {
  check_shape(label, rule::kOutputShape, "reconstructions", "[N,C,H,W]", reconstructions, images.sizes().vec(),
              " (the images' shape)");
}

void check_loss_term(const std::string& label, const LossTerm& term, int64_t n, const ImageShape& image) {
  check_shape(label, rule::kPerImageShape, "per-image loss", "[N]", term.per_image, {n});
  if (term.map.defined())
    check_shape(label, rule::kMapShape, "map", "[N,H,W]", term.map, {n, image.height, image.width});
}

void check_map_mean(const std::string& label, const LossTerm& term, double tolerance) {
  if (!term.map.defined()) return;
  const torch::Tensor mean = term.map.detach().flatten(1).to(torch::kDouble).mean(1);
  const torch::Tensor loss = term.per_image.detach().to(torch::kDouble);
  const torch::Tensor allowed = tolerance * loss.abs().clamp_min(1e-6);
  const torch::Tensor off = (mean - loss).abs() > allowed;
  if (!off.any().item<bool>()) return;
  const int64_t i = off.nonzero()[0][0].item<int64_t>();
  throw ContractError(label, rule::kMapMean,
                      fmt::format("the map's mean over its pixels must equal the per-image loss (within {}%), "
                                  "got {:.6g} and {:.6g} for image {}",
                                  tolerance * 100, mean[i].item<double>(), loss[i].item<double>(), i));
}

}  // namespace piade
