// loss/gradient: a third-party loss term built against the installed piade
// SDK. It compares the image gradients (finite differences along x and y)
// of the image and its reconstruction, so that a blurred or shifted edge
// costs more than under a pixel-wise loss. This is the gradient difference
// loss of Mathieu, Couprie and LeCun, "Deep multi-scale video prediction
// beyond mean square error", ICLR 2016 (arXiv 1511.05440), eq. 5, on the
// signed differences (so an inverted edge counts too) instead of their
// absolute values.
#include <torch/torch.h>

#include <algorithm>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "piade/sdk/plugin.h"

namespace {

/// The penalty on a gradient difference d.
enum class Order { l1, l2 };

/// The `order` choices, declared once: the names users type for each value.
const piade::Choice<Order> kOrders[] = {{Order::l1, "l1"}, {Order::l2, "l2"}};

/// Each option declared once: its type and default in TORCH_ARG, what users
/// see (name, doc, range or choices) in PIADE_OPTION. The SDK derives the
/// parameter table, the parsing and pretty_print() from it.
struct GradientLossOptions {
  /// |d| (l1, robust to a few large errors) or d^2 (l2).
  TORCH_ARG(Order, order) = Order::l1;
  /// Pixel distance of the finite differences: 1 compares neighbours,
  /// larger steps compare coarser structure.
  TORCH_ARG(int64_t, step) = 1;

  PIADE_OPTIONS(
      PIADE_OPTION(order, "penalty on the gradient difference: l1 (absolute) or l2 (squared)",
                   kOrders),
      PIADE_OPTION(step, "pixel distance of the finite differences",
                   piade::param::Range::between(1, 64)))
};

// Forward difference along `dim` with distance `step`, zero-padded at the end
// so that it keeps the input's shape: d[i] = x[i + step] - x[i].
torch::Tensor forward_difference(const torch::Tensor& x, int64_t dim, int64_t step) {
  const int64_t size = x.size(dim);
  const torch::Tensor d = x.narrow(dim, step, size - step) - x.narrow(dim, 0, size - step);
  // constant_pad_nd pads from the last dimension backwards, {low, high} per dimension.
  std::vector<int64_t> pad(2 * (x.dim() - dim), 0);
  pad.back() = step;
  return torch::constant_pad_nd(d, pad, 0);
}

class GradientLossImpl : public torch::nn::Cloneable<GradientLossImpl>, public piade::Loss {
 public:
  /// piade::component<> lists this struct's options as the parameters.
  using Options = GradientLossOptions;

  explicit GradientLossImpl(const piade::ComponentContext& context)
      // Parameters arrive validated against the table derived from Options;
      // parse() reads them into it, `order` into its enum.
      : options_(piade::parse<Options>(context.params)) {
    // The context also tells the image size, so a step that leaves no
    // difference to compare is refused when the model is built, not in forward().
    const int64_t smaller_side = std::min(context.image.height, context.image.width);
    if (options_.step() >= smaller_side)
      throw std::invalid_argument("loss/gradient: step " + std::to_string(options_.step()) +
                                  " is not smaller than the image side " +
                                  std::to_string(smaller_side) +
                                  "; give a smaller loss.gradient.step");
    reset();
  }

  void reset() override {}  // no submodules or parameters to register

  piade::LossTerm forward(const torch::Tensor& images, const torch::Tensor& reconstructions) override {
    TORCH_CHECK(images.sizes() == reconstructions.sizes(), "loss/gradient: images ", images.sizes(),
                " and reconstructions ", reconstructions.sizes(), " differ in shape");
    TORCH_CHECK(images.dim() == 4, "loss/gradient: expected images [N,C,H,W], got ", images.sizes());
    TORCH_CHECK(options_.step() < std::min(images.size(2), images.size(3)), "loss/gradient: step ",
                options_.step(), " is not smaller than the image side in ", images.sizes());
    const torch::Tensor error = images - reconstructions;
    // The gradient of a difference is the difference of the gradients.
    const torch::Tensor dx = forward_difference(error, /*dim=*/3, options_.step());
    const torch::Tensor dy = forward_difference(error, /*dim=*/2, options_.step());
    const torch::Tensor penalty =
        options_.order() == Order::l1 ? dx.abs() + dy.abs() : dx.square() + dy.square();
    // Per pixel: averaged over channels, [N,H,W]; per image: mean over pixels, [N].
    torch::Tensor map = penalty.mean(/*dim=*/1);
    return {map.flatten(1).mean(1), map};
  }

  void pretty_print(std::ostream& stream) const override {
    // Only what differs from the defaults, e.g. loss/gradient(order=l2).
    piade::print_options(stream, "loss/gradient", options_);
  }

 private:
  GradientLossOptions options_;
};

const PiadeComponentSpec kComponents[] = {
    piade::component<GradientLossImpl>(
        "gradient", "difference of image gradients along x and y (arXiv 1511.05440 eq. 5)"),
};

}  // namespace

// The version is the one given to piade_add_plugin() in CMakeLists.txt.
PIADE_PLUGIN("gradient", "image-gradient difference loss term (third-party example)", kComponents)
