"""Evaluate a checkpoint on held-out shards: a metrics table, per-modality ablations (each
modality alone, each removed), and gated fusion vs concatenation (--concat CHECKPOINT) vs the
best single modality."""

from __future__ import annotations

import json
from pathlib import Path

from . import checkpoint_arg

HELP = "evaluate a checkpoint on held-out dataset shards"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, type=checkpoint_arg,
                        help="checkpoint path, or a name in the package's models/ folder")
    parser.add_argument("--data", type=Path, nargs="+", required=True,
                        help="held-out dataset folder(s), evaluated as one")
    parser.add_argument("--concat", type=checkpoint_arg, help="a checkpoint trained with model.router.kind=concat")
    parser.add_argument("--frame-stride", type=int, default=2, help="use every n-th frame")
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument("--cells", action="store_true",
                        help="also evaluate the held-out robot cells (omni-ros bench --suite "
                             "cells: moved and turned cameras, lenses, resolutions, lighting, "
                             "randomised cells on held-out seeds, and mounts and lighting outside "
                             "the training range) and print them side by side with --data")
    parser.add_argument("--cell-episodes", type=int, default=8,
                        help="--cells: held-out episodes per cell (generated into build/cells)")
    parser.add_argument("--gate-plot", type=Path,
                        help="plot the audio gate over the episode of --data with the most "
                             "impacts (PNG)")


def format_results(res: dict) -> str:
    m = res["metrics"]
    lines = [f"{'metric':<40} {'value':>10}", "-" * 51]
    for k, v in m.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a} {b}" if isinstance(b, int) else f"{a} {b:.2f}" for a, b in v.items())
            lines.append(f"{k:<40} {v}")
        else:
            lines.append(f"{k:<40} {v:>10.4f}")
    temp = any("held_temperature_acc" in v for v in res["ablations"].values())
    lines += ["", f"{'ablation':<22} {'contact':>8} {'impact':>8} {'held id':>8} {'score':>8}"
              + (f" {'held temp':>9}" if temp else "") + "  mean gates of the present", "-" * 58]
    for k, v in res["ablations"].items():
        gates = " ".join(f"{a} {b:.2f}" for a, b in v.get("mean_gates", {}).items() if b > 0)
        lines.append(f"{k:<22} {v['contact_state_acc']:>8.3f} {v['impact_balanced_acc']:>8.3f} "
                     f"{v['held_identity_acc']:>8.3f} {v['fused_score']:>8.3f}"
                     + (f" {v.get('held_temperature_acc', float('nan')):>9.3f}" if temp else "")
                     + f"  {gates}")
    return "\n".join(lines)


def side_by_side(res: dict) -> str:
    """Object metrics of --data (in distribution) and of every held-out cell, one row each."""
    from ..benchmarks.cells import METRICS

    lines = ["| data | in training range | detection recall | localisation median [cm] | "
             "shape+colour | grounding |", "|---|---|---:|---:|---:|---:|"]
    rows = [("--data (in distribution)", "yes", res["metrics"])]
    rows += [(name, "yes" if c["in_range"] else "**no**", c["geometry_as_input"])
             for name, c in res["cells"]["cells"].items()]
    for name, in_range, m in rows:
        a, b, c, d = (m[k] for k in METRICS)
        lines.append(f"| {name} | {in_range} | {a:.3f} | {b:.2f} | {c:.3f} | {d:.3f} |")
    return "\n".join(lines)


def run(args) -> int:
    from ..core.model.checkpoint import CheckpointError, load_checkpoint
    from ..dataset.shards import seed_ranges
    from ..learning.data import ShardData
    from ..learning.evaluate import evaluate

    try:
        model, cfg, _ = load_checkpoint(args.checkpoint)
        concat = load_checkpoint(args.concat)[0] if args.concat else None
    except CheckpointError as err:
        print(f"error: {err}")
        return 2
    data = ShardData(args.data, cfg.model, args.frame_stride, seed=1, paraphrases=True)
    res = evaluate(model, data, concat)
    res["data"] = {"episodes": len(data.manifest["episodes"]), "seeds": seed_ranges(data.manifest),
                   "frame_stride": data.manifest.get("frame_stride", 1) * args.frame_stride}
    print(format_results(res))
    if args.gate_plot:
        from ..learning.evaluate import gate_plot
        print(f"wrote {gate_plot(model, data, args.gate_plot)}")
    if args.cells:
        from ..benchmarks import cells

        res["cells"] = cells.run(args.cell_episodes, checkpoint=args.checkpoint)
        print(side_by_side(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0
