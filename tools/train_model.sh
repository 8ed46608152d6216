#!/usr/bin/env bash
# Reproduces models/omni_small.pt, its evaluation and models/MODEL_CARD.md on 2 CPU cores
# (data ~20 min, training ~2 x 24 min + 2 min, eval ~8 min; thermal variant +45 min). Run from the repository root after
# `make setup` (or via `make model`).
set -euo pipefail
B=.venv/bin
D=build/data
# 720 training scenes (seeds 0-719) in two folders, every 4th camera frame.
$B/omni-ros dataset --out $D/train_a --episodes 360 --seed 0 --workers 2 --frame-stride 4
$B/omni-ros dataset --out $D/train_b --episodes 360 --seed 360 --workers 2 --frame-stride 4
# 40 held-out scenes on fresh seeds (5000-5019, 6000-6019), every frame (eval uses every 2nd).
$B/omni-ros dataset --out $D/eval_a --episodes 20 --seed 5000 --workers 2
$B/omni-ros dataset --out $D/eval_b --episodes 20 --seed 6000 --workers 2
$B/omni-ros train --data $D/train_a $D/train_b --out models/omni_small.pt --config config/train_small.yaml
$B/omni-ros train --data $D/train_a $D/train_b --out build/omni_small_concat.pt \
    --config config/train_concat.yaml
$B/omni-ros eval --checkpoint models/omni_small.pt --concat build/omni_small_concat.pt \
    --data $D/eval_a $D/eval_b --json models/eval.json
# Optional variant: the pretrained text backend (the 'sentence' extra), text encoder only (~2 min).
$B/omni-ros train --data $D/train_a $D/train_b --out models/omni_small_minilm.pt \
    --config config/train_minilm.yaml
$B/omni-ros eval --checkpoint models/omni_small_minilm.pt --data $D/eval_a $D/eval_b --json models/eval_minilm.json
$B/omni-ros bench --suite model --checkpoint omni_small.pt --json models/bench.json
$B/python -m omni_ros.learning.model_card models/omni_small.pt models/eval.json models/bench.json \
    models/MODEL_CARD.md models/omni_small_minilm.pt models/eval_minilm.json
# Thermal variant (issue 12): omni_small.pt + the thermal camera fused as a sixth modality and the
# held-object temperature head, fine-tuned on 240 scenes (~32 min), evaluated on held-out seeds;
# its section of the model card.
$B/omni-ros dataset --out $D/thermal_train --episodes 240 --seed 0 --workers 2 --frame-stride 4
$B/omni-ros train --data $D/thermal_train --out models/omni_small_thermal.pt --config config/train_thermal.yaml
$B/omni-ros eval --checkpoint models/omni_small_thermal.pt --data $D/eval_a $D/eval_b --json models/eval_thermal.json
$B/python -m omni_ros.learning.model_card --thermal models/omni_small_thermal.pt models/eval_thermal.json models/MODEL_CARD.md
