"""Reference data for resnet_test.cpp from torchvision's own ResNet18, with
random weights (no download): weights files and the layer4 outputs for
fixed inputs. Usage: python3 make_reference.py OUT_DIR"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../sdk/weights"))
import safetensors_io  # noqa: E402

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet18()  # torchvision's init; 1000-class fc included
with torch.no_grad():
    # Batch norm statistics and affine terms away from 0/1, so that a wrong
    # name or a skipped buffer shows in the output.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(11)
state = model.state_dict()  # an OrderedDict with _metadata, like torchvision's files
safetensors_io.save(dict(state), os.path.join(out, "resnet18.safetensors"), metadata={"format": "pt"})
torch.save(dict(state), os.path.join(out, "resnet18_dict.pth"))
torch.save(state, os.path.join(out, "resnet18_ordered.pth"))

features = torch.nn.Sequential(*list(model.children())[:-2])  # up to layer4
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(x):
    return ((x.expand(-1, 3, -1, -1) + 1) / 2 - mean) / std


class SE(torch.nn.Module):
    """Paper eq. 1-2, no biases."""

    def __init__(self, c, r):
        super().__init__()
        self.fc1 = torch.nn.Linear(c, max(1, c // r), bias=False)
        self.fc2 = torch.nn.Linear(max(1, c // r), c, bias=False)

    def forward(self, u):
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(u.mean((2, 3))))))
        return u * s[:, :, None, None]


se = torch.nn.ModuleDict({"se%d" % i: SE(c, 4) for i, c in enumerate([64, 64, 128, 256, 512])})
se_state = {k: v.detach() * 3 for k, v in se.state_dict().items()}  # large enough to matter
se.load_state_dict(se_state)
safetensors_io.save(se_state, os.path.join(out, "se.safetensors"))


def se_forward(x):
    m = model
    x = se["se0"](m.maxpool(m.relu(m.bn1(m.conv1(x)))))
    x = se["se1"](m.layer1(x))
    x = se["se2"](m.layer2(x))
    x = se["se3"](m.layer3(x))
    return se["se4"](m.layer4(x))


g = torch.Generator().manual_seed(1)
x_rgb = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
x_gray = torch.rand(2, 1, 40, 52, generator=g) * 2 - 1
ref = {"x_rgb": x_rgb, "x_gray": x_gray}
with torch.no_grad():
    model.eval()
    ref["eval_rgb"] = features(normalize(x_rgb))
    ref["eval_gray"] = features(normalize(x_gray))
    ref["eval_rgb_unnormalized"] = features(x_rgb)
    ref["se_eval_rgb"] = se_forward(normalize(x_rgb))
    model.train()  # batch statistics (this also updates the running ones: done last)
    ref["train_rgb"] = features(normalize(x_rgb))
safetensors_io.save({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
