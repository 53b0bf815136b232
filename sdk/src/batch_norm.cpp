// PLACEHOLDER on branch `ddp` only, so that `piade train --sync-bn` compiles
// before the `syncbn` branch is merged: it stores the sum but does not
// synchronise anything (torch's forward). Take syncbn's file at the merge.
#include "piade/sdk/batch_norm.h"

#include <mutex>
#include <ostream>

// LibTorch defines BatchNormImplBase::pretty_print in libtorch_cpu without
// exporting it; derived classes' construction vtables need a definition.
namespace torch::nn {
template <size_t D, typename Derived>
void BatchNormImplBase<D, Derived>::pretty_print(std::ostream& stream) const {
  stream << "torch::nn::BatchNorm" << D << "d(" << this->options.num_features() << ")";
}
template void BatchNormImplBase<1, BatchNorm1dImpl>::pretty_print(std::ostream&) const;
template void BatchNormImplBase<2, BatchNorm2dImpl>::pretty_print(std::ostream&) const;
}  // namespace torch::nn

namespace piade::sdk {
namespace {
std::mutex g_mutex;
ProcessSum g_sum;
}  // namespace

void set_batch_norm_sync(ProcessSum sum) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sum = std::move(sum);
}

bool batch_norm_sync_enabled() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return static_cast<bool>(g_sum);
}

torch::Tensor BatchNorm1dImpl::forward(const torch::Tensor& input) { return torch::nn::BatchNorm1dImpl::forward(input); }
std::shared_ptr<torch::nn::Module> BatchNorm1dImpl::clone(const c10::optional<torch::Device>& device) const {
  return torch::nn::BatchNorm1dImpl::clone(device);
}
void BatchNorm1dImpl::pretty_print(std::ostream& stream) const { torch::nn::BatchNorm1dImpl::pretty_print(stream); }

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& input) { return torch::nn::BatchNorm2dImpl::forward(input); }
std::shared_ptr<torch::nn::Module> BatchNorm2dImpl::clone(const c10::optional<torch::Device>& device) const {
  return torch::nn::BatchNorm2dImpl::clone(device);
}
void BatchNorm2dImpl::pretty_print(std::ostream& stream) const { torch::nn::BatchNorm2dImpl::pretty_print(stream); }

}  // namespace piade::sdk
