"""torchvision's own weight files for weights_test.cpp, as torch.save writes
them, from a model with random weights (no download):
  MODEL.pth              torch.save(model.state_dict()): an OrderedDict with
                         `_metadata`, as torchvision's ImageNet files
                         (resnet18-f37072fd.pth, vgg11-8a719046.pth) are
  MODEL_no_metadata.pth  the same with `_metadata` deleted
  MODEL.safetensors      the same tensors written by hand (safetensors_io,
                         numpy's bytes), to compare with bit for bit
Usage: python3 torchvision_files.py resnet18|vgg11 OUT_DIR"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

name, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None)
with torch.no_grad():
    # Batch norm buffers away from their initial 0/1, and an int64 count
    # per layer, so that a buffer read from the wrong storage shows.
    for i, m in enumerate(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        m.running_mean.uniform_(-0.2, 0.2)
        m.running_var.uniform_(0.5, 2.0)
        m.num_batches_tracked.fill_(1000 + i)
state = model.state_dict()
assert hasattr(state, "_metadata")
torch.save(state, os.path.join(out, name + ".pth"))
del state._metadata
torch.save(state, os.path.join(out, name + "_no_metadata.pth"))
safetensors_io.save(state, os.path.join(out, name + ".safetensors"))
