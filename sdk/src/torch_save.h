// Reading the state dicts that Python's torch.save writes (torchvision's
// ImageNet files among them) without Python: LibTorch's own zip reader for
// the archive, and a small pickle reader for the one pickle in it. Internal
// to the SDK library; piade::load_tensors (weights.h) is the public entry.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include <torch/types.h>

namespace piade::detail {

/// The tensors of the state dict in `path`, a zip archive written by
/// torch.save in PyTorch >= 1.6 (`<name>/data.pkl`, `<name>/data/<key>`,
/// `<name>/version`), by name, contiguous on the CPU, in the dtype they
/// were saved with. data.pkl must hold a dict or a collections.OrderedDict
/// (with or without the `_metadata` that model.state_dict() sets) of str ->
/// tensor (or nn.Parameter). Throws std::runtime_error saying what the file
/// holds instead (a whole pickled model, a TorchScript archive, a checkpoint
/// dict, a truncated archive, ...) and what to pass, without the file's
/// name: the caller adds it.
std::map<std::string, torch::Tensor> read_torch_save(const std::string& path);

/// Whether a file starting with these bytes is a torch.save file in the
/// legacy format (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`):
/// a bare pickle stream whose first value is torch's magic number.
bool is_legacy_torch_save(const char* bytes, std::size_t size);

}  // namespace piade::detail
