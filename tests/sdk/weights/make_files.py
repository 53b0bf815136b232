"""Weights files for weights_test.cpp, written by Python as users would:
  mixed.safetensors  one tensor per dtype, values from arange (see the test)
  dict.pth           torch.save of a plain dict (what LibTorch reads)
  ordered.pth        torch.save(model.state_dict()): an OrderedDict with
                     `_metadata`, as torchvision's own files are
Usage: python3 make_files.py OUT_DIR"""
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

out = sys.argv[1]
mixed = {}
for dtype in safetensors_io.DTYPES:
    # arange(12) - 5 as [3,4], in each dtype (bool: != 0, u8: + 5)
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4) - 5
    if dtype == torch.uint8:
        base = base + 5
    mixed["t_" + safetensors_io.DTYPES[dtype]] = (base != 0) if dtype == torch.bool else base.to(dtype)
mixed["scalar"] = torch.tensor(2.5, dtype=torch.float32)
mixed["empty"] = torch.zeros(0, 3, dtype=torch.float32)
safetensors_io.save(mixed, os.path.join(out, "mixed.safetensors"), metadata={"format": "pt"})

model = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(4, 3)), ("bn", torch.nn.BatchNorm1d(3))]))
with torch.no_grad():
    model.fc.weight.copy_(torch.arange(12.0).reshape(3, 4))
    model.fc.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    model.bn.num_batches_tracked.fill_(7)
state = model.state_dict()
assert hasattr(state, "_metadata")
torch.save(dict(state), os.path.join(out, "dict.pth"))
torch.save(state, os.path.join(out, "ordered.pth"))
torch.save(torch.zeros(2), os.path.join(out, "tensor.pth"))
torch.save({"w": torch.zeros(2), "epoch": 3}, os.path.join(out, "not_all_tensors.pth"))
