#!/usr/bin/python3
"""Times the PyTorch eager PIADE the way `piade bench` times piade.

usage: bench_eager.py MODEL.safetensors [--batch-size 32] [--warmup 1]
           [--repeats 5] [--threads N] [--mode score,train] [--seed 0]
           [--device cpu] [--no-flops] [--out FILE.json]

MODEL is the file `piade bench --save-model` (or `piade export`) wrote; the
image shape and pipeline come from its configuration. Measured exactly as
host/cli/commands/bench.cpp measures piade: one batch of uniform [-1,1] images,
`warmup` untimed batches, then `repeats` batches timed one by one
(time.perf_counter around the call, including the final `.item()` that waits
for the result), reported as images/second of the median batch time with the
slowest and fastest batch, in the same JSON schema ("piade-bench-1") with
implementation "pytorch-eager".

- score: eval mode under torch.inference_mode() (the idiomatic eager way to
  run a model without autograd, and what piade uses: c10::InferenceMode),
  forward and every loss term, sum of the scores to a Python float.
- train_step: train mode, forward, mean of eq. 5 over the batch, zero_grad,
  backward, Adam (lr 1e-3, weight decay 1e-4, as piade bench), loss to a float.

It also reports model FLOPs per image ("flop_per_image") for one score batch
and one train step, from torch.profiler.profile(with_flops=True): the sum of
every event's flops over the batch size. Torch 1.13's profiler assigns FLOPs
only to aten::conv2d, aten::mm, aten::addmm, aten::bmm, aten::baddbmm (2 per
multiply-add) and the elementwise aten::mul / aten::add (1 per element); it
does NOT count aten::conv_transpose2d (the decoder) nor any backward
convolution (aten::convolution_backward), so for a train step it is roughly
the forward count. "flop_per_image_all" is therefore also given: a
TorchDispatchMode counter of every convolution (plain and transposed, forward
and backward: grad input and grad weight each cost one forward) and every
matrix product (mm, addmm, bmm, baddbmm), 2 per multiply-add, no elementwise
ops. "flop_per_image_by_op" breaks the profiler's count down.

Runs on Debian's python3-torch 1.13 (/usr/bin/python3).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from piade_eager import PiadeEager, make_optimizer, read_safetensors  # noqa: E402


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def peak_rss_bytes() -> float:
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024.0  # Linux: KiB


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_batches(step: Callable[[], None], batch_size: int, warmup: int, repeats: int,
                 device: torch.device) -> dict:
    """As piade bench's time_batches: warm-up, then each batch timed alone."""
    for _ in range(warmup):
        step()
    synchronize(device)
    seconds: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    ordered = sorted(seconds)
    median = statistics.median(ordered)  # mean of the middle two for an even count, as piade
    return {
        "images_per_second": batch_size / median,
        "images_per_second_min": batch_size / ordered[-1],
        "images_per_second_max": batch_size / ordered[0],
        "seconds_per_batch_median": median,
        "seconds_per_batch": seconds,
        "warmup": warmup,
        "repeats": repeats,
    }


# ---------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------

def profiler_flops(step: Callable[[], None]) -> Dict[str, int]:
    """FLOPs torch.profiler attributes to each op name over one call of `step`."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        step()
    by_op: Dict[str, int] = defaultdict(int)
    for event in prof.events():
        if event.flops:
            by_op[event.name] += int(event.flops)
    return dict(by_op)


def _prod(values) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def _conv_forward_flops(input_shape, weight_shape, output_shape, transposed: bool) -> int:
    # A plain conv does prod(weight) = C_out * C_in/groups * k multiply-adds per
    # output position; a transposed one does as many per input position.
    spatial = input_shape[2:] if transposed else output_shape[2:]
    return 2 * int(output_shape[0]) * _prod(spatial) * _prod(weight_shape)


def dispatch_flops(step: Callable[[], None]) -> Dict[str, int]:
    """FLOPs of every convolution (forward and backward) and matrix product
    over one call of `step`, counted from the aten ops the dispatcher sees
    (the idea of torch.utils.flop_counter, which torch 1.13 lacks)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    aten = torch.ops.aten
    counts: Dict[str, int] = defaultdict(int)

    class Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func.overloadpacket
            if packet is aten.convolution:
                x, w = args[0], args[1]
                transposed = bool(args[6])
                counts["convolution_transposed" if transposed else "convolution"] += \
                    _conv_forward_flops(x.shape, w.shape, out.shape, transposed)
            elif packet is aten.convolution_backward:
                grad_out, x, w = args[0], args[1], args[2]
                transposed, mask = bool(args[7]), args[10]
                one = _conv_forward_flops(x.shape, w.shape, grad_out.shape, transposed)
                counts["convolution_backward"] += one * (int(bool(mask[0])) + int(bool(mask[1])))
            elif packet is aten.mm:
                a, b = args[0], args[1]
                counts["mm"] += 2 * a.shape[0] * a.shape[1] * b.shape[1]
            elif packet is aten.addmm:
                a, b = args[1], args[2]
                counts["addmm"] += 2 * a.shape[0] * a.shape[1] * b.shape[1]
            elif packet in (aten.bmm, aten.baddbmm):
                a, b = (args[0], args[1]) if packet is aten.bmm else (args[1], args[2])
                counts[packet.__name__] += 2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
            return out

    with Counter():
        step()
    return dict(counts)


# ---------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="safetensors written by `piade bench --save-model` or `piade export`")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches first (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed batches, median reported (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch CPU threads (default: all cores, as piade)")
    parser.add_argument("--mode", default="score,train", help="score, train or score,train")
    parser.add_argument("--seed", type=int, default=0, help="seed for the input batch (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP counts")
    parser.add_argument("--out", help="write the JSON here (default: standard output)")
    args = parser.parse_args()

    if args.batch_size < 2:
        parser.error(f"--batch-size: must be at least 2 (batch norm), got {args.batch_size}")
    if args.warmup < 0:
        parser.error("--warmup: must not be negative")
    if args.repeats < 1:
        parser.error(f"--repeats: must be at least 1, got {args.repeats}")
    if args.threads < 1:
        parser.error(f"--threads: must be at least 1, got {args.threads}")
    if args.mode not in ("score", "train", "score,train"):
        parser.error(f"--mode: '{args.mode}' is not score, train or score,train")
    run_score = args.mode in ("score", "score,train")
    run_train = args.mode in ("train", "score,train")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    state, metadata = read_safetensors(args.model)
    if "piade_config" not in metadata:
        sys.exit(f"{args.model}: no 'piade_config' metadata entry; is this a piade export?")
    config = json.loads(metadata["piade_config"])
    model = PiadeEager.from_export(state, config).to(device)
    del state
    channels, height, width = model.image_shape

    torch.manual_seed(args.seed)
    images = (torch.rand(args.batch_size, channels, height, width) * 2 - 1).to(device)

    report = {
        "format": "piade-bench-1",
        "implementation": "pytorch-eager",
        "piade_version": metadata.get("piade_version"),
        "torch_version": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "batch_size": args.batch_size,
        "image": {"channels": channels, "height": height, "width": width},
        "pipeline": config["pipeline"],
    }

    def score_step() -> None:
        # inference_mode: no autograd record and no version counters, the
        # idiomatic (and cheapest) eager inference; piade uses the same guard.
        with torch.inference_mode():
            model(images)["total"].sum().item()

    def score_step_no_grad() -> None:
        # For the dispatch FLOP counter only: torch 1.13's TorchDispatchMode
        # sees nothing under inference_mode; no_grad runs the same ops.
        with torch.no_grad():
            model(images)["total"].sum().item()

    optimizer = None

    def train_step() -> None:
        out = model(images)
        loss = out["total"].mean()
        # set_to_none: the default of PyTorch >= 2.0 and of LibTorch's
        # zero_grad, which piade calls (1.13's Python default would zero them).
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()

    if run_score:
        model.eval()
        report["score"] = time_batches(score_step, args.batch_size, args.warmup, args.repeats, device)
    if run_train:
        model.train()
        optimizer = make_optimizer(model, lr=1e-3, weight_decay=1e-4)
        report["train_step"] = time_batches(train_step, args.batch_size, args.warmup, args.repeats,
                                            device)
    # Before the FLOP counting, whose profiler holds its own memory.
    report["peak_host_memory_bytes"] = peak_rss_bytes()

    if not args.no_flops:
        for part, mode_train, step, counted_step in (
                ("score", False, score_step, score_step_no_grad),
                ("train_step", True, train_step, train_step)):
            if part not in report:
                continue
            model.train(mode_train)
            by_op = profiler_flops(step)
            everything = dispatch_flops(counted_step)
            report[part]["flop_per_image"] = sum(by_op.values()) / args.batch_size
            report[part]["flop_per_image_by_op"] = {k: v / args.batch_size for k, v in sorted(by_op.items())}
            report[part]["flop_per_image_all"] = sum(everything.values()) / args.batch_size
            report[part]["flop_per_image_all_by_op"] = {k: v / args.batch_size
                                                        for k, v in sorted(everything.items())}
        report["flop_notes"] = (
            "flop_per_image: torch.profiler with_flops, which counts aten::conv2d, mm, addmm, bmm, "
            "baddbmm (2 per multiply-add) and elementwise mul/add, but not conv_transpose2d nor "
            "any convolution backward; flop_per_image_all: every convolution (plain and "
            "transposed, forward and backward) and matrix product, 2 per multiply-add")

    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.out)
    else:
        sys.stdout.write(text)
    for part in ("score", "train_step"):
        if part in report:
            r = report[part]
            print(f"{part}: {r['images_per_second']:.2f} img/s (median of {args.repeats}; "
                  f"{r['images_per_second_min']:.2f} to {r['images_per_second_max']:.2f})",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
