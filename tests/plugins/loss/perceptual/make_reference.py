"""Reference data for perceptual_test.cpp from torchvision's VGG11 with
random weights (no download). Usage: python3 make_reference.py OUT_DIR"""
import os
import sys

import torch
import torch.nn.functional as F
from torchvision.models import vgg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../sdk/weights"))
import safetensors_io  # noqa: E402

out = sys.argv[1]
torch.manual_seed(0)
# vgg11().features, without building the 120M-parameter classifier.
model = torch.nn.Module()
model.features = vgg.make_layers(vgg.cfgs["A"])
ordered = model.state_dict()  # an OrderedDict with _metadata, like torchvision's files
# Stand-ins for the classifier of a full vgg11 state dict (its 411 MB real
# shapes would make a slow test): the plugin must ignore such extra keys.
for i in (0, 3, 6):
    ordered["classifier.%d.weight" % i] = torch.randn(4, 4)
    ordered["classifier.%d.bias" % i] = torch.randn(4)
state = dict(ordered)
safetensors_io.save(state, os.path.join(out, "vgg11.safetensors"))
torch.save(state, os.path.join(out, "vgg11_dict.pth"))
torch.save(ordered, os.path.join(out, "vgg11_ordered.pth"))

head = model.features[:4]
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def perceptual(x, y):
    fx = head(((x.expand(-1, 3, -1, -1) + 1) / 2 - mean) / std)
    fy = head(((y.expand(-1, 3, -1, -1) + 1) / 2 - mean) / std)
    sq = (fx - fy) ** 2
    per_image = sq.flatten(1).mean(1)
    m = F.interpolate(sq.mean(1, keepdim=True), size=x.shape[2:], mode="bilinear", align_corners=False)
    return per_image, m[:, 0]


g = torch.Generator().manual_seed(1)
ref = {}
for name, shape in (("rgb", (2, 3, 32, 32)), ("gray", (3, 1, 27, 40))):
    x = torch.rand(*shape, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(*shape, generator=g)).clamp(-1, 1)
    with torch.no_grad():
        per_image, m = perceptual(x, y)
    ref.update({"x_" + name: x, "y_" + name: y, "per_image_" + name: per_image, "map_" + name: m})
safetensors_io.save({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
