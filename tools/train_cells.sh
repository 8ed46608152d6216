#!/usr/bin/env bash
# Reproduces the randomised-cells model (issue 14: randomised robot cells, staged impacts, the
# hearing objective) in two stages on 2 CPU cores: build/omni_small_cells.pt (data ~75 min,
# training ~20 min), then build/omni_cells.pt (data ~45 min, training ~25 min), its evaluation
# side by side with the held-out cells (~25 min), the audio-gate plot and
# bench/cells_model_card.md.
# The stage-1 model behind bench/ was trained on datasets made before the impact-label fix (this
# script regenerates them with it). Run from the repository root after `make setup`. (The first 136 cells were made before the staged
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
# Stage 1: omni_small.pt fine-tuned on the 416 randomised cells (config/train_cells.yaml).
$B/omni-ros train --data "$PWD/$D/train_a" "$PWD/$D/train_b" --out "$PWD/build/omni_small_cells.pt" \
    --config config/train_cells.yaml
# Stage 2 (config/train_cells_hearing.yaml): 160 fresh randomised cells (seeds 40000-40159, made
# after the impact-label fix) mixed with 160 nominal scenes (seeds 50000-50159).
$B/omni-ros dataset --out $D/train_c --episodes 160 --seed 40000 --workers 2 --frame-stride 4 --config $R
$B/omni-ros dataset --out $D/nominal --episodes 160 --seed 50000 --workers 2 --frame-stride 4
$B/omni-ros train --data $D/train_c $D/nominal --out "$PWD/build/omni_cells.pt" \
    --config config/train_cells_hearing.yaml
$B/omni-ros eval --checkpoint "$PWD/build/omni_cells.pt" --data $D/eval --cells \
    --gate-plot bench/cells_model_gates.png --json bench/cells_model.json
cp build/omni_cells.loss.png bench/cells_model_loss.png
$B/python -m omni_ros.learning.model_card --cells "$PWD/build/omni_cells.pt" bench/cells_model.json \
    bench/cells_model_card.md bench/cells_model_gates.png bench/cells_model_loss.png
