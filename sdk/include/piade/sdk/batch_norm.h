// Batch norm whose statistics can span every process of a data-parallel run
// (`piade train --sync-bn`), as PyTorch's torch.nn.SyncBatchNorm does.
//
// Example (a plugin layer that --sync-bn covers):
//
//   bn1 = register_module("bn1", piade::sdk::BatchNorm2d(64));
//
// A plugin that keeps torch::nn::BatchNorm2d still trains under --sync-bn,
// with statistics of each process's own share of the batch.
#pragma once

#include <functional>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "piade/sdk/export.h"

namespace piade::sdk {

/// Sums a tensor in place over every process of a data-parallel run (an
/// all-reduce with SUM). The host installs one while it trains with --sync-bn.
/// Every process must call it the same number of times in the same order
/// (one call per batch-norm forward and one per backward in training mode).
using ProcessSum = std::function<void(torch::Tensor&)>;

/// Installs `sum` for every piade::sdk batch-norm module in this process;
/// an empty function restores per-process statistics. A backward pass uses
/// the function its forward pass saw.
PIADE_SDK_API void set_batch_norm_sync(ProcessSum sum);
PIADE_SDK_API bool batch_norm_sync_enabled();

/// Drop-in torch::nn::BatchNorm1d (same options, parameter and buffer
/// names, so checkpoints and torchvision weights load), whose training-mode
/// forward uses the statistics of the whole global batch when a sync is
/// installed. Without a sync, or in eval mode, it is torch's forward.
/// Input [N,C] or [N,C,L], any floating dtype and device.
class PIADE_SDK_API BatchNorm1dImpl : public torch::nn::BatchNorm1dImpl {
 public:
  using torch::nn::BatchNorm1dImpl::BatchNorm1dImpl;
  torch::Tensor forward(const torch::Tensor& input);
  /// A piade::sdk::BatchNorm1dImpl (torch's Cloneable would slice it to
  /// torch's class, which never synchronises).
  std::shared_ptr<torch::nn::Module> clone(const c10::optional<torch::Device>& device = c10::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(BatchNorm1d);

/// Drop-in torch::nn::BatchNorm2d, as BatchNorm1dImpl. Input [N,C,H,W].
class PIADE_SDK_API BatchNorm2dImpl : public torch::nn::BatchNorm2dImpl {
 public:
  using torch::nn::BatchNorm2dImpl::BatchNorm2dImpl;
  torch::Tensor forward(const torch::Tensor& input);
  std::shared_ptr<torch::nn::Module> clone(const c10::optional<torch::Device>& device = c10::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(BatchNorm2d);

}  // namespace piade::sdk
