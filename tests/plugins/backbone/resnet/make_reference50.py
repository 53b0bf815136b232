"""Reference data for the resnet50/se_resnet50 cases of resnet_test.cpp
from torchvision's own ResNet50, with random weights (no download): its
state dict saved as torchvision's files are, SE weights, and the layer4
outputs for a fixed input. Apart from make_reference.py so that the
ResNet18 cases do not wait for ResNet50's 100 MB.
Usage: python3 make_reference50.py OUT_DIR"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../sdk/weights"))
import safetensors_io  # noqa: E402

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet50()  # torchvision's init; 1000-class fc included
with torch.no_grad():
    # Batch norm statistics and affine terms away from 0/1, so that a wrong
    # name or a skipped buffer shows in the output.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)
state = model.state_dict()  # an OrderedDict with _metadata, as torchvision's resnet50-0676ba61.pth
torch.save(state, os.path.join(out, "resnet50.pth"))

features = torch.nn.Sequential(*list(model.children())[:-2])  # up to layer4
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(x):
    return ((x.expand(-1, 3, -1, -1) + 1) / 2 - mean) / std


class SE(torch.nn.Module):
    """Paper eq. 1-2, no biases (as the authors' senet.SELayer)."""

    def __init__(self, c, r):
        super().__init__()
        self.fc1 = torch.nn.Linear(c, max(1, c // r), bias=False)
        self.fc2 = torch.nn.Linear(max(1, c // r), c, bias=False)

    def forward(self, u):
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(u.mean((2, 3))))))
        return u * s[:, :, None, None]


# The authors' SE-ResNet50 (capsmod.py, PSPNet.forward): se1..se5 after the
# stem's max-pool and after each stage, reduction 16.
se = torch.nn.ModuleDict({"se%d" % i: SE(c, 16) for i, c in enumerate([64, 256, 512, 1024, 2048])})
se_state = {k: v.detach() * 3 for k, v in se.state_dict().items()}  # large enough to matter
se.load_state_dict(se_state)
safetensors_io.save(se_state, os.path.join(out, "se50.safetensors"))


def se_forward(x):
    m = model
    x = se["se0"](m.maxpool(m.relu(m.bn1(m.conv1(x)))))
    x = se["se1"](m.layer1(x))
    x = se["se2"](m.layer2(x))
    x = se["se3"](m.layer3(x))
    return se["se4"](m.layer4(x))


g = torch.Generator().manual_seed(1)
x_rgb = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
ref = {"x_rgb": x_rgb}
with torch.no_grad():
    model.eval()
    ref["eval_rgb"] = features(normalize(x_rgb))
    ref["se_eval_rgb"] = se_forward(normalize(x_rgb))
    model.train()  # batch statistics (this also updates the running ones: done last)
    ref["train_rgb"] = features(normalize(x_rgb))
safetensors_io.save({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
