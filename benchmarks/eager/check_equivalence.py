#!/usr/bin/python3
"""Scores images with the PyTorch eager PIADE, for comparison with piade.

usage: check_equivalence.py CHECKPOINT_SAFETENSORS INPUT_NPY OUT_JSON [--threads N]

CHECKPOINT_SAFETENSORS is a `piade export` file; INPUT_NPY a float32 array
[N,C,H,W] already in the model's input range, [-1,1] (what piade's
PiadeModel::score receives: uint8 / 255 * 2 - 1 after resizing). OUT_JSON gets
{"total": [N], "terms": {name: [N]}, "weights": {name: w}, "vector_index": [N],
"shapes": {...}} from eval mode, as `piade score` computes them.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from piade_eager import PiadeEager, load_piade_safetensors  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="piade export (.safetensors)")
    parser.add_argument("input", help="float32 .npy [N,C,H,W] in [-1,1]")
    parser.add_argument("out", help="JSON file to write")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    state, config = load_piade_safetensors(args.checkpoint)
    model = PiadeEager.from_export(state, config)

    images = np.load(args.input)
    if images.ndim != 4:
        sys.exit(f"{args.input}: expected [N,C,H,W], got shape {images.shape}")
    if images.dtype != np.float32:
        sys.exit(f"{args.input}: expected float32, got {images.dtype}")
    if images.size and (images.min() < -1 or images.max() > 1):
        print(f"warning: {args.input} has values outside [-1,1] "
              f"({images.min()}..{images.max()}); piade's input range is [-1,1]", file=sys.stderr)
    x = torch.from_numpy(np.ascontiguousarray(images))

    total, terms = model.score(x)
    with torch.no_grad():  # the intermediate shapes (same eval-mode pass)
        out = model(x)
    result = {
        "total": total.tolist(),
        "terms": {name: t.tolist() for name, t in terms.items()},
        "weights": dict(zip(model.loss_names, model.loss_weights)),
        "vector_index": out["vector_index"].tolist(),
        "shapes": {key: list(out[key].shape)
                   for key in ("features", "capsules", "vectors", "reconstruction")},
    }
    result["shapes"]["input"] = list(x.shape)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
