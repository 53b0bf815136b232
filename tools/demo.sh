#!/usr/bin/env bash
# The main job on data that ships with Debian (package dataset-fashion-mnist):
# train the paper's pipeline on the normal class 0 of Fashion-MNIST for a
# short run sized for a 2-core machine, then score held-out images.
set -euo pipefail
build=${1:-build}
out=${PIADE_DEMO_DIR:-$build/demo}
piade="$build/bin/piade"

"$piade" plugins
"$piade" train --dataset fmnist --normal-class 0 --max-train 600 --epochs 3 --batch-size 60 \
  --loss mse,ssim --out "$out" --checkpoint-every 0
echo "checkpoint and training log: $out"
