"""Weights files for weights_test.cpp, written by Python as users would:
  mixed.safetensors  one tensor per dtype, values from arange (see the test)
  dict.pth           torch.save of a plain dict
  ordered.pth        torch.save(model.state_dict()): an OrderedDict with
                     `_metadata`, as torchvision's own files are
  mixed.pth          the tensors of mixed.safetensors in an OrderedDict,
                     saved at pickle protocol 4 (other opcodes than 2)
  views.pth          views into one storage: offsets, strides, transposes
  parameters.pth     state_dict(keep_vars=True): nn.Parameter values
  model.pth          a whole pickled model (torchvision's SqueezeNet 1.1)
  scripted.pt        a TorchScript archive (torch.jit.save)
  legacy.pth         the legacy, pre-1.6 non-zip format
  checkpoint.pth     a training checkpoint: {"state_dict": ..., "epoch": 3}
  tensor.pth, not_all_tensors.pth: not a dict of tensors
Usage: python3 make_files.py OUT_DIR"""
import os
import sys
from collections import OrderedDict

import torch
import torchvision

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

ordered_mixed = OrderedDict(mixed)
ordered_mixed._metadata = OrderedDict({"": {"version": 1}})
torch.save(ordered_mixed, os.path.join(out, "mixed.pth"), pickle_protocol=4)

base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = OrderedDict([("base", base), ("slice", base[1:3, 2:5]), ("transposed", base.t()), ("row", base[2]),
                     ("strided", base[:, ::2]), ("element", base[3, 4])])
torch.save(views, os.path.join(out, "views.pth"))

torch.save(model.state_dict(keep_vars=True), os.path.join(out, "parameters.pth"))
torch.save(torchvision.models.squeezenet1_1(), os.path.join(out, "model.pth"))
torch.jit.save(torch.jit.script(model), os.path.join(out, "scripted.pt"))
torch.save(state, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
torch.save({"state_dict": state, "epoch": 3}, os.path.join(out, "checkpoint.pth"))
