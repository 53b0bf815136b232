// routing/dynamic: routing by agreement (Sabour, Frosst, Hinton 2017,
// "Dynamic Routing Between Capsules", procedure 1), as PIADE uses it to route
// the pyramid's primary capsules to its instantiation vectors (paper sec.
// 3.1, "Dynamic Routing", algorithm 1 and eq. 3). Which vector is decoded
// (vector 0 in training, the longest in evaluation) is piade::Routing::select(),
// overridden for train_vector=longest.
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "piade/sdk/plugin.h"

#include "dynamic.h"

namespace {

using piade::dynamic::DynamicRoutingOptions;

/// Keeps squash() finite and differentiable at s = 0, where s/|s| is 0/0.
/// Added to |s|^2 before the square root: far below float rounding of any
/// |s|^2 that is not itself negligible.
constexpr double kSquashEpsilon = 1e-12;

class DynamicRoutingImpl : public torch::nn::Cloneable<DynamicRoutingImpl>, public piade::Routing {
 public:
  using Options = DynamicRoutingOptions;

  explicit DynamicRoutingImpl(const piade::ComponentContext& context)
      : options_(piade::parse<Options>(context.params)) {
    if (!context.capsules)
      throw std::invalid_argument(
          "no capsule shape in the build context; build the pooling part first");
    capsules_ = *context.capsules;
    if (!(options_.a() > 0))
      throw std::invalid_argument("a=" + context.params.text("a") +
                                  " must be greater than 0, or squash() would give vectors of "
                                  "length 1 or more; use e.g. a=1");
    if (capsules_.count < 1 || capsules_.dim < 1)
      throw std::invalid_argument("the pooling part reports " +
                                  std::to_string(capsules_.count) + " capsules of length " +
                                  std::to_string(capsules_.dim) + "; both must be at least 1");
    reset();
  }

  void reset() override {
    // W_ij for each (vector j, capsule i): out_dim x capsule_dim, so that
    // u_hat_j|i = W_ij u_i (Sabour et al. eq. 2). Small gaussian init keeps
    // the first squash() in its linear range.
    weight_ = register_parameter(
        "weight", 0.01 * torch::randn({options_.vectors(), capsules_.count, options_.out_dim(),
                                       capsules_.dim}));
  }

  torch::Tensor forward(const torch::Tensor& capsules) override {
    TORCH_CHECK(capsules.dim() == 3 && capsules.size(1) == capsules_.count &&
                    capsules.size(2) == capsules_.dim,
                "routing/dynamic: expected capsules [N,", capsules_.count, ",", capsules_.dim,
                "], got ", capsules.sizes());
    // Predictions u_hat[n,j,i,:] = W[j,i] u[n,i], all at once.
    // Contiguous once: einsum returns a permuted view, which each matmul
    // below (and its backward) would otherwise copy again.
    const torch::Tensor u_hat = torch::einsum("jiod,nid->njio", {weight_, capsules}).contiguous();
    // Routing logits b_ij, one set per image, start at 0 (algorithm 1, line 4).
    torch::Tensor b = torch::zeros({capsules.size(0), options_.vectors(), capsules_.count},
                                   capsules.options());
    // With stop_gradient the first r-1 iterations see the predictions as
    // constants: the coupling coefficients carry no gradient, and u_hat gets
    // it only from the last s_j (the authors' capsmod.py).
    const torch::Tensor routed = options_.stop_gradient() ? u_hat.detach() : u_hat;
    torch::Tensor v;
    for (int64_t r = 0; r < options_.iterations(); ++r) {
      const bool last = r + 1 == options_.iterations();
      const torch::Tensor& predictions = last ? u_hat : routed;
      // Line 6: each capsule i spreads itself over the output vectors j.
      const torch::Tensor c = torch::softmax(b, /*dim=*/1);
      // Line 7: s_j = sum_i c_ij u_hat_j|i, as a batched matrix product.
      const torch::Tensor s = torch::matmul(c.unsqueeze(2), predictions).squeeze(2);  // [N,V,O]
      v = squash(s);                                                                  // line 8
      // Line 9: b_ij += u_hat_j|i . v_j; the last update would be unused.
      if (!last) b = b + torch::matmul(predictions, v.unsqueeze(-1)).squeeze(-1);
    }
    return v;
  }

  /// train_vector=longest decodes the longest vector in training too (the
  /// authors' decode_idx=-1); otherwise the SDK's choice (paper sec. 3.1).
  piade::VectorSelection select(const torch::Tensor& vectors) const override {
    if (options_.train_vector() == piade::dynamic::TrainVector::longest) return piade::select_longest(vectors);
    return piade::Routing::select(vectors);
  }

  piade::VectorShape output_shape(const piade::CapsuleShape& input) const override {
    TORCH_CHECK(input == capsules_, "routing/dynamic: built for ", capsules_.count,
                " capsules of length ", capsules_.dim, ", asked about ", input.count, " of length ",
                input.dim, "; rebuild it with the pooling part's output shape");
    return {options_.vectors(), options_.out_dim()};
  }

  void pretty_print(std::ostream& stream) const override {
    piade::print_options(stream, "routing/dynamic", options_);
  }

 private:
  /// Eq. 3: squash(s) = |s|^2/(a+|s|^2) * s/|s|, over the last dimension;
  /// lengths land in [0,1).
  torch::Tensor squash(const torch::Tensor& s) const {
    const torch::Tensor squared = s.square().sum(-1, /*keepdim=*/true);
    return s * (squared / ((options_.a() + squared) * (squared + kSquashEpsilon).sqrt()));
  }

  DynamicRoutingOptions options_;
  piade::CapsuleShape capsules_;
  torch::Tensor weight_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<DynamicRoutingImpl>(
        "dynamic", "routing by agreement to instantiation vectors (paper sec. 3.1, alg. 1)"),
};

}  // namespace

PIADE_PLUGIN("dynamic", "dynamic routing between capsules", kComponents)
