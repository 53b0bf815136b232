// The part contract of the SDK headers (sdk/include/piade/sdk/*.h), checked
// on real tensors: each part's output against the shape it declared with
// output_shape(), finite values, a loss term's per-image loss [N] and map
// [N,H,W]. The model checks the first batch of every run with these
// (model.h), and `piade plugins check` checks every rule of a component
// (conformance.h). A broken rule is one line naming the component, its
// plugin file and the rule, so that the author of the plugin at fault is
// the one who reads it, not the author of the next part.
#pragma once

#include <string>

#include <torch/types.h>

#include "piade/core/error.h"
#include "piade/core/plugin_registry.h"
#include "piade/sdk/loss.h"
#include "piade/sdk/shapes.h"

namespace piade {

/// The rules, by the names `piade plugins check` prints.
namespace rule {
inline constexpr const char* kBuild = "build";                    ///< builds at the default geometry
inline constexpr const char* kForward = "forward";                ///< forward() runs (no exception)
inline constexpr const char* kOutputShape = "output-shape";       ///< forward() agrees with output_shape()
inline constexpr const char* kFinite = "finite";                  ///< outputs hold no NaN or infinity
inline constexpr const char* kPerImageShape = "per-image-shape";  ///< LossTerm::per_image is [N]
inline constexpr const char* kMapShape = "map-shape";             ///< LossTerm::map is [N,H,W] or undefined
inline constexpr const char* kMapMean = "map-mean";               ///< map's spatial mean = per-image loss
inline constexpr const char* kGradientTrainable = "gradient-trainable";  ///< trainable parameters get one
inline constexpr const char* kGradientFrozen = "gradient-frozen";  ///< frozen parameters and buffers get none
inline constexpr const char* kPrettyPrint = "pretty-print";       ///< pretty_print() works
inline constexpr const char* kClone = "clone";                    ///< clone() gives an equal-output copy
inline constexpr const char* kStateDict = "state-dict";           ///< save, load into a fresh one: same outputs
}  // namespace rule

/// A part broke a rule of its contract. what() is "<label>: <detail>".
class ContractError : public Error {
 public:
  ContractError(std::string label, std::string rule, std::string detail);
  const std::string& label() const { return label_; }  ///< component_label()
  const std::string& rule() const { return rule_; }    ///< one of rule::k...
  const std::string& detail() const { return detail_; }

 private:
  std::string label_, rule_, detail_;
};

/// "loss/ssim (/path/loss_ssim.so)": the component and the file it came from.
std::string component_label(const ComponentInfo& component);

/// "[64,1,28,28]", "[]" for a scalar, "undefined".
std::string shape_text(const torch::Tensor& tensor);

/// Throws ContractError (rule::kFinite) when `tensor` holds a NaN or an
/// infinity; `what` names it in the message ("output", "per-image loss").
void check_finite(const std::string& label, const std::string& what, const torch::Tensor& tensor);

// The shape checks read no values (no device synchronisation), so the model
// runs them on every batch; check_finite only on the first.

/// A backbone's features: [N,K,h,w] as declared.
void check_features(const std::string& label, const torch::Tensor& features, int64_t n,
                    const FeatureShape& declared);
/// A pooling's capsules: [N,count,dim] as declared.
void check_capsules(const std::string& label, const torch::Tensor& capsules, int64_t n,
                    const CapsuleShape& declared);
/// A routing's vectors: [N,V,D] as declared; and the selected
/// vector [N,D] with its index [N].
void check_vectors(const std::string& label, const torch::Tensor& vectors, int64_t n, const VectorShape& declared);
void check_selection(const std::string& label, const torch::Tensor& vector, const torch::Tensor& index, int64_t n,
                     const VectorShape& declared);
/// A decoder's reconstructions: the images' [N,C,H,W].
void check_reconstructions(const std::string& label, const torch::Tensor& reconstructions,
                           const torch::Tensor& images);
/// A loss term: per-image loss [N] and, when defined, map [N,H,W].
void check_loss_term(const std::string& label, const LossTerm& term, int64_t n, const ImageShape& image);

/// A loss term's map, averaged over its pixels, equals its per-image loss
/// within `tolerance` (relative to the loss, absolute below 1e-6): the maps
/// are the anomaly score spread over the image (sdk/loss.h). Terms without
/// a map pass.
void check_map_mean(const std::string& label, const LossTerm& term, double tolerance);

}  // namespace piade
