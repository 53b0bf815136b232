// Reading pretrained weights (torchvision's ImageNet ResNet18 and VGG11, paper
// sec. 3.1 and 4.2) into plugin modules, without Python at run time.
//
// Example (a backbone with torchvision's parameter names):
//
//   auto tensors = piade::load_tensors(path);  // .safetensors, or torchvision's own .pth
//   piade::load_module_weights(*this, tensors, "backbone/resnet18: weights '" + path + "'");
#pragma once

#include <map>
#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "piade/sdk/export.h"

namespace piade {

/// Reads every tensor of a weights file, by name, on the CPU and in the
/// file's dtype. Two formats, told apart by their content:
///  - safetensors (https://github.com/huggingface/safetensors): an 8-byte
///    little-endian header length, a JSON header
///    {name: {"dtype", "shape", "data_offsets"}} with an optional
///    "__metadata__", then the raw little-endian data. dtypes: F64, F32,
///    F16, BF16, I64, I32, I16, I8, U8, BOOL.
///  - a zip archive that Python's torch.save writes in PyTorch >= 1.6
///    (`.pth`, `.pt`; torchvision's ImageNet files such as
///    `resnet18-f37072fd.pth` as downloaded) holding a state dict: a dict
///    or the collections.OrderedDict of `model.state_dict()` (with or
///    without its `_metadata`) of name -> tensor, any non-quantized dtype.
///    Read without Python (LibTorch's zip reader and a small pickle
///    reader); each tensor comes out contiguous, bit for bit as saved.
/// Throws std::runtime_error naming the file and what is wrong with it
/// (missing, truncated, a header length beyond the file, offsets out of
/// range, a size that does not match dtype and shape, an unknown dtype;
/// a whole pickled model, a legacy pre-1.6 torch.save file or a TorchScript
/// archive instead of a state dict, with what to save instead).
PIADE_SDK_API std::map<std::string, torch::Tensor> load_tensors(const std::string& path);

/// Writes `tensors` as a safetensors file that load_tensors() and Python's
/// `safetensors.torch.load_file` read back: names sorted, data contiguous,
/// little-endian, on the CPU; `metadata` becomes the "__metadata__" entry
/// (string values only, as the format requires). The file is written under
/// a temporary name and renamed, so it is never seen half-written. Throws
/// std::runtime_error naming the file on an unsupported dtype or I/O error.
PIADE_SDK_API void save_safetensors(const std::string& path,
                                    const std::map<std::string, torch::Tensor>& tensors,
                                    const std::map<std::string, std::string>& metadata = {});

/// Copies `tensors` into the parameters and buffers of `module` (its
/// named_parameters() and named_buffers(), recursively), without recording
/// gradients. The file's name for a module tensor `n` is `prefix + n`.
/// Every module tensor must be in the file with the same shape and a
/// compatible dtype (floating point for floating point, integer for
/// integer; the values are converted to the module's dtype and device);
/// otherwise std::runtime_error starting with `context` lists what is
/// missing or differs, and nothing is copied. Tensors in the file that the
/// module does not have are ignored, so that a full ImageNet state dict
/// loads into a model that uses only part of it.
PIADE_SDK_API void load_module_weights(torch::nn::Module& module,
                                       const std::map<std::string, torch::Tensor>& tensors,
                                       const std::string& context, const std::string& prefix = "");

}  // namespace piade
