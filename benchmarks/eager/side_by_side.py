#!/usr/bin/python3
"""piade next to PyTorch eager on the same model, batch and threads.

usage: side_by_side.py [--image-size 120] [--channels 3] [--batch-size 32]
           [--threads N] [--warmup 1] [--repeats 5] [--seed 0]
           [--piade PATH] [--out DIR] [-- PIADE PIPELINE OPTIONS...]

1. `piade bench` times piade on a randomly initialised model and saves that
   model (DIR/piade.json, DIR/model.safetensors); anything after `--` goes to
   it (e.g. `-- --backbone resnet18 --set routing.vectors=1`).
2. bench_eager.py times benchmarks/eager/piade_eager.py on the same model
   with the same batch, image size, threads, warm-up and repeats
   (DIR/eager.json), after piade has finished: never both at once.
3. The machine's fp32 GEMM rate: torch.mm of two 2048x2048 float32 matrices
   at the same thread count, median of a few runs.

Prints a Markdown table (images/second, piade/eager ratios, the model's
GFLOP per image and the fraction of the GEMM rate each implementation
reaches) and writes everything to DIR/side_by_side.json. Defaults are the
benchmark's: 120x120 RGB, batch 32, all cores. Run with /usr/bin/python3
(Debian's python3-torch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def fail(message: str) -> None:
    print(f"side_by_side: error: {message}", file=sys.stderr)
    sys.exit(1)


def run(label: str, command: List[str]) -> float:
    """Runs `command`, its output passed through; fails clearly if it does."""
    print(f"== {label}: {' '.join(command)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        result = subprocess.run(command)
    except OSError as error:
        fail(f"{label}: could not start {command[0]}: {error}")
    if result.returncode != 0:
        fail(f"{label} failed (exit status {result.returncode}); see its messages above")
    return time.perf_counter() - start


def load_json(path: str, label: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        fail(f"{label}: could not read its report {path}: {error}")


def gemm_rate(threads: int, size: int = 2048, runs: int = 5) -> dict:
    """fp32 GFLOP/s of torch.mm(size x size, size x size) at `threads`."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up (allocations, thread pool)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        torch.mm(a, b)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    flop = 2.0 * size ** 3
    return {"size": size, "threads": torch.get_num_threads(), "runs": runs,
            "seconds": seconds, "seconds_median": median, "flop": flop,
            "gflop_per_second": flop / median / 1e9, "torch_version": torch.__version__}


def fmt_rate(part: Optional[dict]) -> str:
    if not part:
        return "–"
    return (f"{part['images_per_second']:.2f} "
            f"({part['images_per_second_min']:.2f}–{part['images_per_second_max']:.2f})")


def ratio(a: Optional[dict], b: Optional[dict]) -> Optional[float]:
    if not a or not b:
        return None
    return a["images_per_second"] / b["images_per_second"]


def main() -> int:
    argv = sys.argv[1:]
    extra: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after `--` are passed to `piade bench` (pipeline options).")
    parser.add_argument("--image-size", type=int, default=120, help="image height and width (default 120)")
    parser.add_argument("--channels", type=int, default=3, help="image channels, 1 or 3 (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help=f"CPU threads for both (default: all cores, here {os.cpu_count()})")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches first (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed batches, median reported (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="weights and input seed (default 0)")
    parser.add_argument("--piade", default=os.path.join(REPO, "build", "bin", "piade"),
                        help="the piade binary (default: build/bin/piade of this repository)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter with torch for bench_eager.py (default: this one)")
    parser.add_argument("--gemm-size", type=int, default=2048, help="GEMM side for the peak rate (default 2048)")
    parser.add_argument("--out", help="folder for the reports and the model (default: a new temporary one)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads: must be at least 1")

    if not os.path.isfile(args.piade) or not os.access(args.piade, os.X_OK):
        fail(f"piade binary not found or not executable: {args.piade} (build it, or pass --piade PATH)")
    out = args.out or tempfile.mkdtemp(prefix="piade-side-by-side-")
    os.makedirs(out, exist_ok=True)
    model_file = os.path.join(out, "model.safetensors")
    piade_json = os.path.join(out, "piade.json")
    eager_json = os.path.join(out, "eager.json")
    for stale in (model_file, piade_json, eager_json):
        if os.path.exists(stale):
            os.remove(stale)

    common = ["--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
              "--repeats", str(args.repeats), "--threads", str(args.threads), "--seed", str(args.seed)]
    piade_seconds = run("piade bench", [args.piade, "bench", "--image-size", str(args.image_size),
                                        "--channels", str(args.channels)] + common +
                        ["--save-model", model_file, "--out", piade_json] + extra)
    piade = load_json(piade_json, "piade bench")
    if not os.path.isfile(model_file):
        fail(f"piade bench wrote no model to {model_file}")
    eager_seconds = run("pytorch eager", [args.python, os.path.join(HERE, "bench_eager.py"), model_file]
                        + common + ["--out", eager_json])
    eager = load_json(eager_json, "bench_eager.py")
    print("== fp32 GEMM rate", file=sys.stderr, flush=True)
    gemm = gemm_rate(args.threads, args.gemm_size)
    peak = gemm["gflop_per_second"] * 1e9

    parts = ("score", "train_step")
    ratios = {part: ratio(piade.get(part), eager.get(part)) for part in parts}
    flops = {part: {key: eager[part].get(key) for key in ("flop_per_image", "flop_per_image_all")}
             for part in parts if part in eager}
    fractions = {}
    for name, report in (("piade", piade), ("pytorch-eager", eager)):
        fractions[name] = {}
        for part in parts:
            if part in report and part in flops:
                rate = report[part]["images_per_second"]
                fractions[name][part] = {key: (flop * rate / peak if flop else None)
                                         for key, flop in flops[part].items()}

    def pct(value: Optional[float]) -> str:
        return "–" if value is None else f"{100 * value:.1f}%"

    def gflop(value: Optional[float]) -> str:
        return "–" if value is None else f"{value / 1e9:.2f}"

    def times(value: Optional[float]) -> str:
        return "–" if value is None else f"{value:.2f}x"

    shape = f"{args.image_size}x{args.image_size}x{args.channels}"
    lines = [
        f"{shape}, batch {args.batch_size}, {args.threads} threads, warm-up {args.warmup}, "
        f"median of {args.repeats} batches (slowest–fastest); {piade.get('cpu', '?')}; "
        f"piade {piade.get('piade_version')} (torch {piade.get('torch_version')}), "
        f"eager torch {eager.get('torch_version')}",
        "",
        "| implementation | score img/s | train img/s |",
        "|---|---|---|",
        f"| piade | {fmt_rate(piade.get('score'))} | {fmt_rate(piade.get('train_step'))} |",
        f"| pytorch-eager | {fmt_rate(eager.get('score'))} | {fmt_rate(eager.get('train_step'))} |",
        f"| **piade / eager** | **{times(ratios['score'])}** | **{times(ratios['train_step'])}** |",
        "",
        f"fp32 GEMM rate ({args.gemm_size}² torch.mm, {gemm['threads']} threads): "
        f"{gemm['gflop_per_second']:.1f} GFLOP/s",
        "",
        "| | score | train step |",
        "|---|---|---|",
        f"| GFLOP/image, torch.profiler | {gflop(flops.get('score', {}).get('flop_per_image'))} | "
        f"{gflop(flops.get('train_step', {}).get('flop_per_image'))} |",
        f"| GFLOP/image, all conv+matmul | {gflop(flops.get('score', {}).get('flop_per_image_all'))} | "
        f"{gflop(flops.get('train_step', {}).get('flop_per_image_all'))} |",
    ]
    for name in ("piade", "pytorch-eager"):
        cells = []
        for part in parts:
            f = fractions[name].get(part, {})
            cells.append(f"{pct(f.get('flop_per_image'))} / {pct(f.get('flop_per_image_all'))}")
        lines.append(f"| {name}: fraction of GEMM rate (profiler / all) | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "torch.profiler counts conv2d/mm/addmm/bmm (+ elementwise mul/add) but not conv_transpose2d "
        "or convolution backward; 'all' counts every convolution (forward, transposed, backward) "
        "and matrix product.",
    ]
    table = "\n".join(lines)
    print(table)

    summary = {
        "format": "piade-side-by-side-1",
        "settings": {"image_size": args.image_size, "channels": args.channels,
                     "batch_size": args.batch_size, "threads": args.threads, "warmup": args.warmup,
                     "repeats": args.repeats, "seed": args.seed, "piade": os.path.abspath(args.piade),
                     "piade_options": extra, "python": args.python},
        "piade": piade,
        "pytorch_eager": eager,
        "gemm": gemm,
        "ratio_piade_over_eager": ratios,
        "flop_per_image": flops,
        "fraction_of_gemm_rate": fractions,
        "wall_seconds": {"piade": piade_seconds, "pytorch_eager": eager_seconds},
        "model": model_file,
        "table_markdown": table,
    }
    with open(os.path.join(out, "side_by_side.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"\nreports in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
