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
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "piade/sdk/plugin.h"

namespace {

/// The penalty on a gradient difference d.
enum class Order { l1, l2 };

/// The `order` choices, declared once: the schema and the parser both read
/// this table, in the order of `Order`.
const char* const kOrders[] = {"l1", "l2"};

struct GradientLossOptions {
  /// |d| (l1, robust to a few large errors) or d^2 (l2).
  TORCH_ARG(Order, order) = Order::l1;
  /// Pixel distance of the finite differences: 1 compares neighbours,
  /// larger steps compare coarser structure.
  TORCH_ARG(int64_t, step) = 1;
};

Order parse_order(const std::string& text) {
  for (std::size_t i = 0; i < std::size(kOrders); ++i)
    if (text == kOrders[i]) return static_cast<Order>(i);
  // The host validated the value against kOrders already.
  throw std::invalid_argument("loss/gradient: unknown order '" + text + "'; give l1 or l2");
}

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
  explicit GradientLossImpl(const piade::ComponentContext& context) {
    // Parameters arrive typed and validated against the schema below; only
    // the conversion to the option types happens here.
    options_.order(parse_order(context.params.get_string("order")));
    options_.step(context.params.get_int("step"));
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
    // Only what differs from the defaults, as torch's ConvNdImpl::pretty_print.
    stream << "loss/gradient(";
    const char* separator = "";
    if (options_.order() != GradientLossOptions().order()) {
      stream << "order=" << kOrders[static_cast<int>(options_.order())];
      separator = ", ";
    }
    if (options_.step() != GradientLossOptions().step()) stream << separator << "step=" << options_.step();
    stream << ")";
  }

 private:
  GradientLossOptions options_;
};

const PiadeParamSpec kParams[] = {
    piade::param::choice("order", "l1", kOrders,
                         "penalty on the gradient difference: l1 (absolute) or l2 (squared)"),
    piade::param::integer("step", "1", "pixel distance of the finite differences",
                          piade::param::Range::between(1, 64)),
};

const PiadeComponentSpec kComponents[] = {
    piade::component<GradientLossImpl>(
        "gradient", "difference of image gradients along x and y (arXiv 1511.05440 eq. 5)",
        kParams),
};

}  // namespace

PIADE_PLUGIN("gradient", "1.0.0", "image-gradient difference loss term (third-party example)",
             kComponents)
