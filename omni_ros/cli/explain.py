"""Why the router fused what it fused. From a session recording (``--mcap``: the /omni/scene
messages, commands and task status that ``omni-ros demo`` records, or ``ros2 bag record -s mcap``
of those topics) or from a checkpoint run over dataset shards (``--checkpoint`` + ``--data``),
writes to --out:

  timeline.png      gates and leave-one-out contributions per modality over time, presence,
                    contact / impact / command / task events marked
  combinations.png  how often each modality combination occurred (present; gate >= --gate-min)
  summary.md        a short report: branches, combinations, absences, proposed rules, rarely
                    used branches
  summary.json      the same statistics for tools (the rule and pruning proposals)

  omni-ros explain --mcap out/demo.mcap --out out/explain
  omni-ros explain --checkpoint omni_small.pt --data data/heldout --absent audio --out out/explain
"""

from __future__ import annotations

import json
from pathlib import Path

from . import checkpoint_arg, not_datasets

HELP = "plot and summarise the router's decisions in a recording or over a dataset"


def add_arguments(parser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--mcap", type=Path, help="a session recording (MCAP with /omni/scene)")
    src.add_argument("--checkpoint", type=checkpoint_arg,
                     help="checkpoint path or a name in the package's models/ (with --data)")
    parser.add_argument("--data", type=Path, nargs="+", help="--checkpoint: dataset folder(s)")
    parser.add_argument("--out", type=Path, default=Path("out/explain"), help="output folder")
    parser.add_argument("--scene-topic", default="/omni/scene", help="--mcap: the scenes' topic")
    parser.add_argument("--absent", default="",
                        help="--checkpoint: comma-separated modalities forced absent (a robot "
                             "without those sensors)")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="--checkpoint: hide each present modality with this probability "
                             "(training's modality dropout) to see the other combinations")
    parser.add_argument("--seed", type=int, default=0, help="--checkpoint: dropout seed")
    parser.add_argument("--frame-stride", type=int, default=1, help="--checkpoint: every n-th frame")
    parser.add_argument("--gate-min", type=float, default=0.1,
                        help="a modality is 'used' in a sample when its gate is >= this")
    parser.add_argument("--min-gate", type=float, default=0.1,
                        help="a branch is 'rarely used' when its mean gate when present is < this")
    parser.add_argument("--rule-share", type=float, default=0.1,
                        help="propose rules for present combinations covering >= this share of samples")


def _check(args) -> str:
    for name in ("gate_min", "min_gate", "rule_share"):
        v = getattr(args, name)
        if not 0.0 <= v <= 1.0:
            return f"--{name.replace('_', '-')} {v} must be in [0, 1]"
    if args.checkpoint and not args.data:
        return "--checkpoint needs --data DIR (dataset folders made by `omni-ros dataset`)"
    if args.mcap and (args.data or args.absent or args.dropout):
        return "--data, --absent and --dropout go with --checkpoint, not --mcap"
    if args.mcap and not args.mcap.is_file():
        return f"no recording {args.mcap}"
    if args.frame_stride < 1:
        return f"--frame-stride {args.frame_stride} must be >= 1"
    return ""


def _from_mcap(args):
    from ..dataset.session import read_session

    session = read_session(args.mcap, args.scene_topic)
    print(f"explain: {args.mcap}: " + ", ".join(f"{t} {n}" for t, n in sorted(session.messages.items())))
    for reason, n in session.skipped.items():
        print(f"explain: skipped {n} message(s): {reason}")
    return session.trace, "omni-ros compress --checkpoint <perception's checkpoint> " \
                          "--prune-branches {} --out <name>.pt", session.skipped


def _from_checkpoint(args):
    from ..core.model.checkpoint import load_checkpoint
    from ..learning.data import ShardData
    from ..learning.explain import presence, trace_of

    model, cfg, _ = load_checkpoint(args.checkpoint)
    data = ShardData(args.data, cfg.model, args.frame_stride, seed=args.seed, progress=False)
    absent = [n.strip() for n in args.absent.split(",") if n.strip()]
    present = presence(data, model.names, absent, args.dropout, args.seed)
    name = Path(args.checkpoint).name
    what = f"{name} on {', '.join(str(d) for d in args.data)}"
    if absent:
        what += f" ({', '.join(absent)} forced absent)"
    if args.dropout:
        what += f" (modality dropout {args.dropout})"
    print(f"explain: {what}: {data.n} samples")
    return trace_of(model, data, present, source=what), \
        f"omni-ros compress --checkpoint {name} --prune-branches {{}} --out {Path(name).stem}_pruned.pt", {}


def run(args) -> int:
    from ..core.config import ConfigError
    from ..core.model.explain import markdown, summarise
    from ..core.model.checkpoint import CheckpointError
    from .explain_figure import plot_combinations, plot_timeline

    why = _check(args)
    if not why and args.checkpoint and not_datasets(args.data):
        return 2
    if why:
        print(f"error: {why}")
        return 2
    try:
        trace, prune_cmd, skipped = _from_mcap(args) if args.mcap else _from_checkpoint(args)
    except (CheckpointError, ConfigError, ValueError, OSError) as err:
        print(f"error: {err}")
        return 2
    summary = summarise(trace, args.gate_min, args.min_gate, args.rule_share)
    summary["skipped"] = skipped
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    shown = trace
    if trace.episode is not None:
        from ..learning.explain import busiest_episode

        shown = trace.episode_trace(busiest_episode(trace))
        summary["timeline_episode"] = int(shown.episode[0])
    figures = {"gates and contributions over time": plot_timeline(shown, out / "timeline.png").name,
               "modality combinations": plot_combinations(summary, out / "combinations.png").name}
    # never present: prune them by name; present but rarely used: let compress check that the
    # fused decisions do not need them (a microphone decides the material of the rare impacts)
    never = summary["never_used"]
    hint = (prune_cmd.format(",".join(never)) if never else
            prune_cmd.format(f"auto --min-gate {args.min_gate:g}") if summary["rarely_used"]
            else "")
    summary["prune_command"] = hint
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown(summary, figures, hint))
    for r in summary["combinations"]["present"][:3]:
        print(f"explain: present {r['combination']}: {r['count']} ({100 * r['share']:.1f} %), "
              f"dominant {r['dominant'] or '-'}")
    for r in summary["proposed_rules"]:
        print(f"explain: proposed rule '{r['rule']}' ({100 * r['share']:.1f} % of samples, "
              f"spread {r['spread']:.3f})")
    print(f"explain: rarely used: {', '.join(summary['rarely_used']) or 'none'}; never used: "
          f"{', '.join(summary['never_used']) or 'none'}")
    print(f"explain: wrote {out / 'timeline.png'}, {out / 'combinations.png'}, "
          f"{out / 'summary.md'}, {out / 'summary.json'}")
    return 0
