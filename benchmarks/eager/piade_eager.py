"""PIADE in plain PyTorch eager mode: the baseline piade's speed is compared to.

The same network and losses as piade's built-in plugins (backbone/resnet18 and
se_resnet18, pooling/pyramid, routing/dynamic, decoder/transposed, loss/mse,
loss/ssim, loss/perceptual), written the way a PyTorch user would write them,
not tuned for speed. Module and parameter names are piade's, so a
`piade export` file loads with a strict `load_state_dict`:

    state, config = load_piade_safetensors("model.safetensors")
    model = PiadeEager.from_export(state, config)
    total, terms = model.score(images)   # images [N,C,H,W] float in [-1,1]

Paper: Mishra, Piciarelli, Foresti, "Image anomaly detection by aggregating
deep pyramidal representations" (PIADE), 2020; section numbers below are its.
Runs on Debian's python3-torch 1.13 and python3-torchvision; needs no
`safetensors` package.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

__all__ = [
    "load_piade_safetensors",
    "PiadeEager",
    "make_optimizer",
]

# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

# safetensors dtype names -> torch dtypes (the format is little-endian).
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Every tensor of a .safetensors file and its string metadata.

    The format: 8-byte little-endian header length, a JSON header mapping each
    name to {dtype, shape, data_offsets} (offsets relative to the end of the
    header) plus an optional "__metadata__" of strings, then the raw data.
    Written here because Debian 12 has no `safetensors` package.
    """
    if sys.byteorder != "little":
        raise RuntimeError("read_safetensors: safetensors data is little-endian; this reader "
                           "only supports little-endian hosts")
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if 8 + header_len > len(raw):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor '{name}' has unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        shape = list(entry["shape"])
        if end > len(data) or begin > end:
            raise ValueError(f"{path}: tensor '{name}' data [{begin},{end}) is outside the file")
        if begin == end:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        # bytearray: a writable copy, so the tensor owns its memory.
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
        if flat.numel() != math.prod(shape):
            raise ValueError(f"{path}: tensor '{name}' has {flat.numel()} values for shape {shape}")
        tensors[name] = flat.reshape(shape)
    return tensors, metadata


def load_piade_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """(state, config) of a `piade export` file: the tensors by piade's names
    and the checkpoint configuration stored as JSON under "piade_config"."""
    state, metadata = read_safetensors(path)
    if "piade_config" not in metadata:
        raise ValueError(f"{path}: no 'piade_config' metadata entry; is this a `piade export` file?")
    return state, json.loads(metadata["piade_config"])


# ---------------------------------------------------------------------------
# Parameters: the checkpoint stores every plugin parameter as text.
# ---------------------------------------------------------------------------

def _int(params: dict, key: str) -> int:
    return int(params[key])


def _float(params: dict, key: str) -> float:
    return float(params[key])


def _bool(params: dict, key: str) -> bool:
    value = str(params[key]).strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"parameter {key}={params[key]!r} is not a boolean")


def _int_list(params: dict, key: str) -> List[int]:
    return [int(v) for v in str(params[key]).split(",") if v.strip()]


# torchvision's ImageNet statistics, which pretrained ResNet18 / VGG11 expect.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _imagenet_buffer(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1)


# ---------------------------------------------------------------------------
# Backbone (sec. 3.1, "SE-ResNet18")
# ---------------------------------------------------------------------------

class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al.; paper eq. 1-2, fig. 2):
    z = spatial mean of U (eq. 1), s = sigmoid(W2 relu(W1 z)) (eq. 2), U * s.
    Eq. 2 has no biases, so neither do the two linear maps."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=False)   # W1: C/r x C
        self.fc2 = nn.Linear(hidden, channels, bias=False)   # W2: C x C/r

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        z = u.mean(dim=(2, 3))                                # eq. 1
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(z))))      # eq. 2
        return u * s[:, :, None, None]


class ResNet18Backbone(nn.Module):
    """torchvision's ResNet18 up to layer4 (512 channels, 1/32 of the input),
    without avgpool/fc; with `squeeze_excitation` an SE block follows the stem
    and each of the four stages ("each convolutional block is followed by a
    Squeeze-and-Excitation block", sec. 3.1). Names are torchvision's
    (conv1, bn1, layer1.0.conv1, ...) plus se0..se4."""

    def __init__(self, squeeze_excitation: bool, reduction: int = 4, normalize: bool = True):
        super().__init__()
        self.normalize = normalize
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._stage(64, 64, stride=1)
        self.layer2 = self._stage(64, 128, stride=2)
        self.layer3 = self._stage(128, 256, stride=2)
        self.layer4 = self._stage(256, 512, stride=2)
        self.squeeze_excitation = squeeze_excitation
        if squeeze_excitation:
            for i, width in enumerate((64, 64, 128, 256, 512)):
                self.add_module(f"se{i}", SqueezeExcitation(width, reduction))
        # Images come in [-1,1]; pretrained weights expect ImageNet statistics.
        self.register_buffer("input_mean", _imagenet_buffer(_IMAGENET_MEAN))
        self.register_buffer("input_std", _imagenet_buffer(_IMAGENET_STD))

    @staticmethod
    def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
        # torchvision's BasicBlock; the 1x1 strided shortcut when the shape changes.
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))
        return nn.Sequential(BasicBlock(in_channels, out_channels, stride, downsample),
                             BasicBlock(out_channels, out_channels))

    def _excite(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"se{index}")(x) if self.squeeze_excitation else x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.expand(-1, 3, -1, -1) if images.size(1) == 1 else images  # gray -> RGB
        if self.normalize:
            x = ((x + 1) * 0.5 - self.input_mean) / self.input_std
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self._excite(0, x)
        x = self._excite(1, self.layer1(x))
        x = self._excite(2, self.layer2(x))
        x = self._excite(3, self.layer3(x))
        return self._excite(4, self.layer4(x))

    @staticmethod
    def output_side(size: int) -> int:
        # conv1 k7 s2 p3, maxpool k3 s2 p1, a k3 s2 p1 conv opening layer2..4.
        size = (size + 6 - 7) // 2 + 1
        for _ in range(4):
            size = (size + 2 - 3) // 2 + 1
        return size


# ---------------------------------------------------------------------------
# Pyramidal pooling (sec. 3.1, fig. 3)
# ---------------------------------------------------------------------------

class PyramidPooling(nn.Module):
    """Adaptive average pooling to each level (8x8, 4x4, 2x2, 1x1), each
    followed by a 1x1 convolution to `channels` and batch norm; the levels are
    flattened, concatenated and cut into `capsule_dim`-vectors (sec. 3.1)."""

    def __init__(self, in_channels: int, levels: Sequence[int], channels: int, capsule_dim: int):
        super().__init__()
        self.levels = list(levels)
        self.capsule_dim = capsule_dim
        values = channels * sum(side * side for side in self.levels)
        if values % capsule_dim:
            raise ValueError(f"pyramid: {values} pooled values are not divisible by "
                             f"capsule_dim={capsule_dim}")
        self.capsules = values // capsule_dim
        for i in range(len(self.levels)):
            # No bias: the batch norm after the conv cancels it.
            self.add_module(f"conv{i}", nn.Conv2d(in_channels, channels, kernel_size=1, bias=False))
            self.add_module(f"norm{i}", nn.BatchNorm2d(channels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        flat = []
        for i, side in enumerate(self.levels):
            level = F.adaptive_avg_pool2d(features, side)
            level = getattr(self, f"norm{i}")(getattr(self, f"conv{i}")(level))
            flat.append(level.flatten(1))
        return torch.cat(flat, dim=1).view(features.size(0), -1, self.capsule_dim)


# ---------------------------------------------------------------------------
# Dynamic routing (sec. 3.1, algorithm 1, eq. 3)
# ---------------------------------------------------------------------------

class DynamicRouting(nn.Module):
    """Routing by agreement (Sabour et al. 2017) of the primary capsules to
    `vectors` instantiation vectors of length `out_dim`."""

    # Keeps squash() finite at s = 0 (as piade: added to |s|^2 under the root).
    SQUASH_EPSILON = 1e-12

    def __init__(self, capsules: int, capsule_dim: int, vectors: int, out_dim: int,
                 iterations: int, a: float):
        super().__init__()
        self.iterations = iterations
        self.a = a
        # W_ij: one out_dim x capsule_dim matrix per (vector j, capsule i),
        # u_hat_j|i = W_ij u_i.
        self.weight = nn.Parameter(0.01 * torch.randn(vectors, capsules, out_dim, capsule_dim))

    def squash(self, s: torch.Tensor) -> torch.Tensor:
        # Eq. 3: |s|^2 / (a + |s|^2) * s / |s|.
        squared = (s * s).sum(dim=-1, keepdim=True)
        return s * squared / ((self.a + squared) * torch.sqrt(squared + self.SQUASH_EPSILON))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u_hat = torch.einsum("jiod,nid->njio", self.weight, u)              # [N,V,I,O]
        b = torch.zeros(u.size(0), self.weight.size(0), self.weight.size(1),
                        dtype=u.dtype, device=u.device)                      # line 4
        for r in range(self.iterations):
            c = F.softmax(b, dim=1)                                          # line 6, over vectors j
            s = (c.unsqueeze(-1) * u_hat).sum(dim=2)                         # line 7, [N,V,O]
            v = self.squash(s)                                               # line 8
            if r + 1 < self.iterations:                                      # line 9 (last one unused)
                b = b + (u_hat * v.unsqueeze(2)).sum(dim=-1)
        return v


# ---------------------------------------------------------------------------
# Upsampling and decoding (sec. 3.1)
# ---------------------------------------------------------------------------

_SEED = 8  # the decoder input is n x 8 x 8 (sec. 3.1)


def _doubling(delta: int) -> Tuple[int, int, int]:
    """(kernel, stride, padding) of a stride-2 transposed conv taking m to
    2m + delta: 2(m-1) - 2p + k."""
    table = {-2: (2, 2, 1), -1: (3, 2, 1), 0: (4, 2, 1), 1: (3, 2, 0), 2: (4, 2, 0)}
    return table.get(delta, (delta + 2, 2, 0))


def plan_axis(size: int) -> List[Tuple[int, int, int]]:
    """The transposed-convolution steps taking one axis from 8 to `size`,
    exactly as decoder/transposed plans them (for 120: 8 -> 15 -> 29 -> 60 ->
    120, the paper's decoder)."""
    if size < 2 * _SEED:
        raise ValueError(f"image side {size} is too small for the decoder (at least 16)")
    half, last_delta = size // 2, size % 2

    def lowest(start, steps):
        return (start - 2) * (1 << steps) + 2

    def highest(start, steps):
        return (start + 2) * (1 << steps) - 2

    steps = 0
    while highest(_SEED, steps) < half:
        steps += 1
    plan, m = [], _SEED
    if lowest(_SEED, steps) <= half:
        for i in range(steps):
            after = steps - 1 - i
            for delta in (-1, 0, 1, 2, -2):
                nxt = 2 * m + delta
                if lowest(nxt, after) <= half <= highest(nxt, after):
                    plan.append(_doubling(delta))
                    m = nxt
                    break
    else:
        steps -= 1
        for _ in range(steps - 1):
            plan.append(_doubling(2))
            m = 2 * m + 2
        if steps > 0:
            plan.append(_doubling(half - 2 * m))
            m = half
    plan.append(_doubling(last_delta if m == half else size - 2 * m))
    return plan


class TransposedDecoder(nn.Module):
    """An MLP lifts the instantiation vector to upsample_channels x mf x mf,
    which is concatenated with the backbone features, reshaped to n x 8 x 8
    and decoded by transposed convolutions + batch norm + ReLU, the last into
    tanh (sec. 3.1, "Upsampling and decoding layers")."""

    def __init__(self, image_channels: int, height: int, width: int, feature_channels: int,
                 feature_side: Tuple[int, int], vector_dim: int, hidden: Sequence[int],
                 upsample_channels: int, channels: Sequence[int]):
        super().__init__()
        fh, fw = feature_side
        self.upsample_channels = upsample_channels
        values = (upsample_channels + feature_channels) * fh * fw
        if values % (_SEED * _SEED):
            raise ValueError(f"decoder: {values} values do not reshape to n x 8 x 8")
        self.seed_channels = values // (_SEED * _SEED)

        layers: List[nn.Module] = []
        width_in = vector_dim
        for size in hidden:
            # No bias where batch norm follows.
            layers += [nn.Linear(width_in, size, bias=False), nn.BatchNorm1d(size), nn.ReLU()]
            width_in = size
        layers += [nn.Linear(width_in, upsample_channels * fh * fw), nn.ReLU()]
        self.upsample = nn.Sequential(*layers)

        rows, cols = plan_axis(height), plan_axis(width)
        count = max(len(rows), len(cols), len(channels) + 1)
        keep = (3, 1, 1)  # size-keeping steps pad the shorter plan at the front
        rows = [keep] * (count - len(rows)) + rows
        cols = [keep] * (count - len(cols)) + cols
        layers, in_ch = [], self.seed_channels
        for i, (r, c) in enumerate(zip(rows, cols)):
            last = i + 1 == count
            out_ch = image_channels if last else channels[min(i, len(channels) - 1)]
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, kernel_size=(r[0], c[0]),
                                             stride=(r[1], c[1]), padding=(r[2], c[2]), bias=last))
            if not last:
                layers += [nn.BatchNorm2d(out_ch), nn.ReLU()]
            in_ch = out_ch
        layers.append(nn.Tanh())  # images live in [-1,1]
        self.decode = nn.Sequential(*layers)

    def forward(self, vector: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        n = vector.size(0)
        lifted = self.upsample(vector).view(n, self.upsample_channels, features.size(2),
                                            features.size(3))
        seed = torch.cat([lifted, features], dim=1).reshape(n, self.seed_channels, _SEED, _SEED)
        return self.decode(seed)


# ---------------------------------------------------------------------------
# Losses (sec. 3.2, eq. 4-5). Each returns the per-image term [N].
# ---------------------------------------------------------------------------

class MseLoss(nn.Module):
    """(1/WH) ||X - X^||_F^2 per image, averaged over channels too (sec. 3.2)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(y, x, reduction="none").flatten(1).mean(dim=1)


class SsimLoss(nn.Module):
    """1 - SSIM (eq. 4) with the authors' pytorch_ssim constants: a normalized
    gaussian window (11x11, sigma 1.5) per channel, zero padding, C1 = 0.01^2,
    C2 = 0.03^2 for data range 1 (so [-1,1] images are mapped to [0,1])."""

    C1 = 0.01 ** 2
    C2 = 0.03 ** 2

    def __init__(self, window: int = 11, sigma: float = 1.5):
        super().__init__()
        d = torch.arange(window, dtype=torch.float64) - window // 2
        g = torch.exp(-d * d / (2 * sigma * sigma))
        self.register_buffer("gaussian", (g / g.sum()).float())

    def _blur(self, t: torch.Tensor) -> torch.Tensor:
        # The 2-D gaussian is separable: a column pass then a row pass, as
        # pytorch_msssim's gaussian_filter does. Equal to pytorch_ssim's 11x11
        # window in exact arithmetic and closer to it in float32 than one 2-D
        # float32 conv (measured: 5e-7 vs 1e-5 relative to float64).
        channels, pad = t.size(1), self.gaussian.numel() // 2
        g = self.gaussian.to(t.dtype)
        t = F.conv2d(t, g.view(1, 1, -1, 1).expand(channels, 1, -1, 1), padding=(pad, 0),
                     groups=channels)
        return F.conv2d(t, g.view(1, 1, 1, -1).expand(channels, 1, 1, -1), padding=(0, pad),
                        groups=channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = (x + 1) / 2, (y + 1) / 2
        mu_x, mu_y = self._blur(x), self._blur(y)
        mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
        var_x = self._blur(x * x) - mu_xx
        var_y = self._blur(y * y) - mu_yy
        cov = self._blur(x * y) - mu_xy
        ssim = ((2 * mu_xy + self.C1) * (2 * cov + self.C2)) / \
               ((mu_xx + mu_yy + self.C1) * (var_x + var_y + self.C2))
        return 1 - ssim.flatten(1).mean(dim=1)


class PerceptualLoss(nn.Module):
    """(1/WCH) ||F(X) - F(X^)||_F^2 with F the first four layers of VGG11,
    fixed (sec. 3.2, after Johnson et al.)."""

    def __init__(self):
        super().__init__()
        # torchvision vgg11().features[:4], same indices (0 and 3 hold weights);
        # built directly to avoid allocating VGG11's 500 MB classifier.
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(64, 128, kernel_size=3, padding=1))
        self.features.requires_grad_(False)  # "kept fixed" (sec. 3.2, 4.2)
        self.register_buffer("input_mean", _imagenet_buffer(_IMAGENET_MEAN))
        self.register_buffer("input_std", _imagenet_buffer(_IMAGENET_STD))

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        if images.size(1) == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.features(((images + 1) * 0.5 - self.input_mean) / self.input_std)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self._embed(y), self._embed(x), reduction="none").flatten(1).mean(dim=1)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class PiadeEager(nn.Module):
    """backbone -> pyramid pooling -> dynamic routing -> one vector ->
    decoder, and the loss terms that are both the training objective and the
    anomaly score (eq. 5). Build it from a `piade export`'s configuration."""

    def __init__(self, config: dict):
        super().__init__()
        pipeline = config["pipeline"]
        image = config["image"]
        channels, height, width = int(image["channels"]), int(image["height"]), int(image["width"])
        self.image_shape = (channels, height, width)

        for kind, expected in (("pooling", "pyramid"), ("routing", "dynamic"),
                               ("decoder", "transposed")):
            if pipeline[kind]["name"] != expected:
                raise ValueError(f"{kind} '{pipeline[kind]['name']}' is not implemented here "
                                 f"(only '{expected}')")

        p = pipeline["backbone"]["params"]
        name = pipeline["backbone"]["name"]
        if name == "se_resnet18":
            self.backbone = ResNet18Backbone(True, _int(p, "reduction"), _bool(p, "normalize"))
        elif name == "resnet18":
            self.backbone = ResNet18Backbone(False, normalize=_bool(p, "normalize"))
        else:
            raise ValueError(f"backbone '{name}' is not implemented here (resnet18, se_resnet18)")
        feature_side = (ResNet18Backbone.output_side(height), ResNet18Backbone.output_side(width))

        p = pipeline["pooling"]["params"]
        self.pooling = PyramidPooling(512, _int_list(p, "levels"), _int(p, "channels"),
                                      _int(p, "capsule_dim"))

        p = pipeline["routing"]["params"]
        self.routing = DynamicRouting(self.pooling.capsules, self.pooling.capsule_dim,
                                      _int(p, "vectors"), _int(p, "out_dim"),
                                      _int(p, "iterations"), _float(p, "a"))

        p = pipeline["decoder"]["params"]
        self.decoder = TransposedDecoder(channels, height, width, 512, feature_side,
                                         _int(pipeline["routing"]["params"], "out_dim"),
                                         _int_list(p, "hidden"), _int(p, "upsample_channels"),
                                         _int_list(p, "channels"))

        # Loss terms in the configuration's order (the order of piade's
        # score terms), registered as loss_<name> like piade's tensors.
        self.loss_names: List[str] = []
        self.loss_weights: List[float] = []
        for loss in pipeline["loss"]:
            name, p = loss["name"], loss["params"]
            if name == "mse":
                module = MseLoss()
            elif name == "ssim":
                module = SsimLoss(_int(p, "window"), _float(p, "sigma"))
            elif name == "perceptual":
                module = PerceptualLoss()
            else:
                raise ValueError(f"loss '{name}' is not implemented here (mse, ssim, perceptual)")
            self.add_module(f"loss_{name}", module)
            self.loss_names.append(name)
            self.loss_weights.append(_float(p, "weight"))

    @classmethod
    def from_export(cls, state: Dict[str, torch.Tensor], config: dict) -> "PiadeEager":
        model = cls(config)
        model.load_piade_state(state)
        return model

    @classmethod
    def from_safetensors(cls, path: str) -> "PiadeEager":
        return cls.from_export(*load_piade_safetensors(path))

    def load_piade_state(self, state: Dict[str, torch.Tensor]) -> None:
        """Strict load: every exported tensor used, every parameter and buffer
        filled, shapes and dtypes equal; otherwise one error listing all."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = [f"{k}: export {tuple(state[k].shape)} {state[k].dtype}, "
                      f"model {tuple(own[k].shape)} {own[k].dtype}"
                      for k in sorted(set(own) & set(state))
                      if own[k].shape != state[k].shape or own[k].dtype != state[k].dtype]
        if missing or unexpected or mismatched:
            lines = ["the export does not match the model built from its configuration:"]
            if missing:
                lines.append(f"  missing from the export ({len(missing)}): " + ", ".join(missing))
            if unexpected:
                lines.append(f"  unused export tensors ({len(unexpected)}): " + ", ".join(unexpected))
            if mismatched:
                lines.append(f"  shape/dtype mismatches ({len(mismatched)}):\n    " +
                             "\n    ".join(mismatched))
            raise ValueError("\n".join(lines))
        self.load_state_dict(state, strict=True)

    def select(self, vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The vector to decode (sec. 3.1, "Instantiation Vectors"): the
        first while training, so that it learns the normal class; the longest
        at test time."""
        if self.training:
            index = torch.zeros(vectors.size(0), dtype=torch.long, device=vectors.device)
        else:
            index = vectors.norm(dim=-1).argmax(dim=1)
        return vectors[torch.arange(vectors.size(0), device=vectors.device), index], index

    def forward(self, images: torch.Tensor) -> dict:
        """Everything for images [N,C,H,W] in [-1,1], in the current mode."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"expected images N x {self.image_shape}, got {tuple(images.shape)}")
        features = self.backbone(images)
        capsules = self.pooling(features)
        vectors = self.routing(capsules)
        chosen, index = self.select(vectors)
        reconstruction = self.decoder(chosen, features)
        terms = {name: getattr(self, f"loss_{name}")(images, reconstruction)
                 for name in self.loss_names}
        # Eq. 5: the weighted sum of the terms, per image.
        total = sum(w * terms[name] for name, w in zip(self.loss_names, self.loss_weights))
        return {"total": total, "terms": terms, "reconstruction": reconstruction,
                "vector_index": index, "features": features, "capsules": capsules,
                "vectors": vectors}

    @torch.no_grad()
    def score(self, images: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Anomaly scores (sec. 4.2: the training loss is the score): total [N]
        and each unweighted term [N], in eval mode (the model stays in it).
        `images` as piade's model receives them: float [N,C,H,W] in [-1,1]."""
        self.eval()
        out = self(images)
        return out["total"], out["terms"]

    def train_step(self, images: torch.Tensor, optimizer: torch.optim.Optimizer
                   ) -> Tuple[float, Dict[str, torch.Tensor]]:
        """One step as piade's trainer: train mode (batch-norm batch
        statistics, vector 0 decoded), loss = mean over the batch of eq. 5,
        backward, optimizer step. Returns the loss and the detached terms."""
        self.train()
        out = self(images)
        loss = out["total"].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item(), {k: v.detach() for k, v in out["terms"].items()}


def make_optimizer(model: nn.Module, lr: float = 1e-3, weight_decay: float = 1e-4
                   ) -> torch.optim.Adam:
    """Adam over every parameter, as piade's trainer (Table 1 defaults); the
    fixed VGG never gets a gradient and so is never stepped."""
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
