#!/usr/bin/env bash
# Reproduces build/omni_small_cells.pt (trained, not shipped: see bench/cells_model_card.md) (issue 14: randomised robot cells, staged impacts, the
# hearing objective), its evaluation side by side with the held-out cells, the audio-gate plot
# and bench/cells_model_card.md on 2 CPU cores (data ~75 min, training ~20 min, eval ~25 min).
# Run from the repository root after `make setup`. (The first 136 cells were made before the staged
# impacts existed; randomize_no_impacts.yaml reproduces them.)
set -euo pipefail
B=.venv/bin
D=build/cells_data
R=config/randomize.yaml
# 416 randomised training cells (seeds 10000-10135 and 20000-20279), every 4th camera frame.
$B/omni-ros dataset --out $D/train_a --episodes 136 --seed 10000 --workers 2 --frame-stride 4 \
    --config config/randomize_no_impacts.yaml
$B/omni-ros dataset --out $D/train_b --episodes 280 --seed 20000 --workers 2 --frame-stride 4 --config $R
# 24 held-out randomised cells on fresh seeds (30000-30023), every 2nd frame.
$B/omni-ros dataset --out $D/eval --episodes 24 --seed 30000 --workers 2 --frame-stride 2 --config $R
$B/omni-ros train --data "$PWD/$D/train_a" "$PWD/$D/train_b" --out "$PWD/build/omni_small_cells.pt" \
    --config config/train_cells.yaml
$B/omni-ros eval --checkpoint "$PWD/build/omni_small_cells.pt" --data $D/eval --cells \
    --gate-plot bench/cells_model_gates.png --json bench/cells_model.json
cp build/omni_small_cells.loss.png bench/cells_model_loss.png
$B/python -m omni_ros.learning.model_card --cells "$PWD/build/omni_small_cells.pt" bench/cells_model.json \
    bench/cells_model_card.md bench/cells_model_gates.png bench/cells_model_loss.png
