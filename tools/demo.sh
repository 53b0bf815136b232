#!/usr/bin/env bash
# The main job on data that ships with Debian (package dataset-fashion-mnist):
# train the paper's pipeline on the normal class 1 (trouser) of
# Fashion-MNIST for a short run sized for a 2-core machine (about 75 s
# after the build), then evaluate it on a stratified 2000-image sample of the test
# split (200 trousers, 1800 other garments) and print the AUROC and where
# the pictures are. A rerun replaces the previous demo run (--overwrite).
set -euo pipefail
build=${1:-build}
out=${PIADE_DEMO_DIR:-$build/demo}
piade="$build/bin/piade"

"$piade" plugins
"$piade" train --dataset fmnist --normal-class 1 --max-train 600 --epochs 4 --batch-size 50 \
  --loss mse,ssim --out "$out/run" --checkpoint-every 0 --overwrite
# No --dataset: eval takes the checkpoint's (Fashion-MNIST, class 1).
"$piade" eval --checkpoint "$out/run" --max-test 2000 --out "$out/eval" --overwrite
echo "checkpoint and training log: $out/run; metrics, scores, curves: $out/eval"
