#include "piade/sdk/batch_norm.h"

#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/ivalue.h>
#include <torch/autograd.h>

// LibTorch declares BatchNormImplBase::pretty_print in its header and defines
// it in libtorch_cpu without exporting it (the template is not TORCH_API), so
// the construction vtables of a class derived from torch's batch norms find
// no definition. This one prints what LibTorch's prints.
namespace torch::nn {
template <size_t D, typename Derived>
void BatchNormImplBase<D, Derived>::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm" << D << "d(" << this->options.num_features()
         << ", eps=" << this->options.eps() << ", momentum=";
  if (this->options.momentum())
    stream << *this->options.momentum();
  else
    stream << "None";
  stream << ", affine=" << this->options.affine() << ", track_running_stats=" << this->options.track_running_stats()
         << ")";
}
template void BatchNormImplBase<1, BatchNorm1dImpl>::pretty_print(std::ostream&) const;
template void BatchNormImplBase<2, BatchNorm2dImpl>::pretty_print(std::ostream&) const;
}  // namespace torch::nn

namespace piade::sdk {
namespace {

// The installed sum, shared so that a forward pass keeps the function it
// started with even if the host swaps it while another thread runs.
std::mutex sync_mutex;
std::shared_ptr<const ProcessSum> installed_sum;

std::shared_ptr<const ProcessSum> current_sum() {
  std::lock_guard<std::mutex> lock(sync_mutex);
  return installed_sum;
}

// Holds the sum for the backward pass: autograd keeps non-tensor state as
// IValues, and a capsule carries any C++ object without registering a class.
struct SumHolder : torch::CustomClassHolder {
  explicit SumHolder(std::shared_ptr<const ProcessSum> f) : sum(std::move(f)) {}
  std::shared_ptr<const ProcessSum> sum;
};

// y = sum over processes of x. Its backward is the same sum of the incoming
// gradients: every process's loss depends on the summed statistics, so the
// gradient of the total loss with respect to one process's local sums is
// the sum of all processes' gradients with respect to the global sums.
class AllReduceSum : public torch::autograd::Function<AllReduceSum> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& local,
                               std::shared_ptr<const ProcessSum> sum) {
    torch::Tensor total = local.clone(at::MemoryFormat::Contiguous);
    (*sum)(total);
    ctx->saved_data["sum"] = c10::IValue::make_capsule(c10::make_intrusive<SumHolder>(std::move(sum)));
    return total;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto holder = c10::static_intrusive_pointer_cast<SumHolder>(ctx->saved_data["sum"].toCapsule());
    // Undefined gradients arrive as zeros (materialised), so every process
    // calls the sum here and none waits for a partner that skipped it.
    torch::Tensor total = grads[0].clone(at::MemoryFormat::Contiguous);
    (*holder->sum)(total);
    return {total, torch::Tensor()};
  }
};

// Training-mode batch norm over the global batch of every process.
//
// Local input x (this process's share), channels c, reduced over every other
// dimension. Each process packs [s1 | s2 | n] = [sum x | sum x^2 | count] per
// channel into one tensor and one all-reduce gives the global S1, S2, M:
//   mean = S1 / M,  var = S2 / M - mean^2 (biased, as torch normalises),
//   y = (x - mean) / sqrt(var + eps) * weight + bias.
// Gradients: the total loss L = sum_k L_k over processes k depends on process
// j's inputs directly (through its own y) and through S1, S2, which every
// process uses. Autograd differentiates y with respect to x, mean and var
// locally; AllReduceSum's backward then sums dL_k/dS over k, which is
// dL/ds_j (dS/ds_j = 1), and the chain back into x_j is local again. So each
// process gets dL/dx_j of L = sum_k L_k, exactly as one process running batch
// norm over the concatenated batch with that loss. weight and bias enter only
// locally (y_j = weight * xhat_j + bias), so each process gets its own share
// of dL/dweight, and the shares sum to the whole. The host averages
// gradients over its W processes and each L_k is the mean over its own
// images, so the averaged gradient of every parameter is the gradient of
// (1/W) sum_k L_k: the mean loss over the global batch, as one process with
// the whole batch (for equal shares).
//
// Statistics are computed in fp32 at least (fp16/bf16 sums of squares
// overflow or lose most digits) and combined in fp64; the output has the
// input's dtype. S2/M - mean^2 loses digits when |mean| >> std; batch norm
// inputs (conv or linear outputs) are near zero-mean, and it is clamped at 0.
torch::Tensor synced_batch_norm(const char* name, const torch::nn::BatchNormOptions& options,
                                const torch::Tensor& input, torch::Tensor& weight, torch::Tensor& bias,
                                torch::Tensor& running_mean, torch::Tensor& running_var,
                                torch::Tensor& num_batches_tracked,
                                const std::shared_ptr<const ProcessSum>& sum) {
  const int64_t channels = options.num_features();
  // Checked before the all-reduce: a wrong size there would pair this
  // process's sums with another layer's on the other processes.
  if (input.size(1) != channels) {
    throw std::runtime_error(std::string(name) + ": input has " + std::to_string(input.size(1)) +
                             " channels, the layer " + std::to_string(channels));
  }
  const auto stat_type = input.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const torch::Tensor x = input.to(stat_type);

  std::vector<int64_t> reduce{0};
  std::vector<int64_t> shape(static_cast<std::size_t>(input.dim()), 1);
  shape[1] = channels;
  for (int64_t d = 2; d < input.dim(); ++d) reduce.push_back(d);
  const int64_t local_count = channels > 0 ? input.numel() / channels : 0;

  // Packed in fp64: the count stays exact beyond fp32's 2^24 values per
  // channel, and S2 / M - mean^2 keeps more digits. It is 2C+1 numbers.
  const torch::Tensor count = torch::full({1}, static_cast<double>(local_count), x.options().dtype(torch::kDouble));
  const torch::Tensor local =
      torch::cat({x.sum(reduce).to(torch::kDouble), (x * x).sum(reduce).to(torch::kDouble), count});
  const torch::Tensor total = AllReduceSum::apply(local, sum);

  const double global_count = total[2 * channels].item<double>();
  if (global_count <= 1) {
    // torch's own check, on the global batch: every process sees the same
    // count, so all of them stop here together.
    throw std::runtime_error(std::string(name) +
                             ": expected more than 1 value per channel when training, got " +
                             std::to_string(static_cast<int64_t>(global_count)) + " over all processes");
  }
  const torch::Tensor mean64 = total.slice(0, 0, channels) / global_count;
  const torch::Tensor var64 = (total.slice(0, channels, 2 * channels) / global_count - mean64 * mean64).clamp_min(0);
  const torch::Tensor mean = mean64.to(stat_type);
  const torch::Tensor invstd = torch::rsqrt(var64 + options.eps()).to(stat_type);

  torch::Tensor y = (x - mean.view(shape)) * invstd.view(shape);
  if (options.affine()) y = y * weight.to(stat_type).view(shape) + bias.to(stat_type).view(shape);

  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    double factor = options.momentum() ? *options.momentum() : 0.0;
    if (num_batches_tracked.defined()) {
      num_batches_tracked += 1;
      // momentum None: the cumulative average, as torch's BatchNormImplBase.
      if (!options.momentum()) factor = 1.0 / num_batches_tracked.item<double>();
    }
    // torch stores the unbiased variance in running_var.
    const torch::Tensor unbiased = var64 * (global_count / (global_count - 1));
    running_mean.mul_(1 - factor).add_(mean64.detach().to(running_mean.scalar_type()), factor);
    running_var.mul_(1 - factor).add_(unbiased.detach().to(running_var.scalar_type()), factor);
  }
  return y.to(input.scalar_type());
}

void print_options(std::ostream& stream, const char* name, const torch::nn::BatchNormOptions& options) {
  stream << std::boolalpha << name << "(" << options.num_features() << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum())
    stream << *options.momentum();
  else
    stream << "None";
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << ")";
}

// Cloneable::clone() of torch's class would return torch's class: copy the
// tensors into a new module of ours instead, as Cloneable does.
template <typename Impl>
std::shared_ptr<torch::nn::Module> clone_as(const Impl& self, const c10::optional<torch::Device>& device) {
  torch::NoGradGuard no_grad;
  auto copy = std::make_shared<Impl>(self.options);
  auto copy_tensors = [&](const torch::OrderedDict<std::string, torch::Tensor>& from,
                          torch::OrderedDict<std::string, torch::Tensor> to) {
    for (const auto& item : from) {
      const torch::Tensor& tensor = item.value();
      if (!tensor.defined()) continue;
      to[item.key()].set_data(device && tensor.device() != *device ? tensor.to(*device)
                                                                     : torch::autograd::Variable(tensor).clone());
    }
  };
  copy_tensors(self.named_parameters(/*recurse=*/false), copy->named_parameters(/*recurse=*/false));
  copy_tensors(self.named_buffers(/*recurse=*/false), copy->named_buffers(/*recurse=*/false));
  copy->train(self.is_training());
  return copy;
}

}  // namespace

void set_batch_norm_sync(ProcessSum sum) {
  std::lock_guard<std::mutex> lock(sync_mutex);
  installed_sum = sum ? std::make_shared<const ProcessSum>(std::move(sum)) : nullptr;
}

bool batch_norm_sync_enabled() { return current_sum() != nullptr; }

torch::Tensor BatchNorm1dImpl::forward(const torch::Tensor& input) {
  const std::shared_ptr<const ProcessSum> sum = current_sum();
  // Eval mode never synchronises (as torch.nn.SyncBatchNorm): the running
  // statistics are already the same on every process.
  if (!sum || !is_training()) return torch::nn::BatchNorm1dImpl::forward(input);
  _check_input_dim(input);
  return synced_batch_norm("piade::sdk::BatchNorm1d", options, input, weight, bias, running_mean, running_var,
                           num_batches_tracked, sum);
}

std::shared_ptr<torch::nn::Module> BatchNorm1dImpl::clone(const c10::optional<torch::Device>& device) const {
  return clone_as(*this, device);
}

void BatchNorm1dImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "piade::sdk::BatchNorm1d", options);
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& input) {
  const std::shared_ptr<const ProcessSum> sum = current_sum();
  if (!sum || !is_training()) return torch::nn::BatchNorm2dImpl::forward(input);
  _check_input_dim(input);
  return synced_batch_norm("piade::sdk::BatchNorm2d", options, input, weight, bias, running_mean, running_var,
                           num_batches_tracked, sum);
}

std::shared_ptr<torch::nn::Module> BatchNorm2dImpl::clone(const c10::optional<torch::Device>& device) const {
  return clone_as(*this, device);
}

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "piade::sdk::BatchNorm2d", options);
}

}  // namespace piade::sdk
