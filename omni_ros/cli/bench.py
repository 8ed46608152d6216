"""Run benchmarks. Every figure is reported next to a baseline measured in the same run (a ratio),
since absolute times depend on the machine and its load."""

from __future__ import annotations

import json
from pathlib import Path

from . import checkpoint_arg

HELP = ("run benchmarks (transport: message conversion and DDS; sim: expert, RTF, sensors, "
        "dataset; model: encoder and fused-step latency)")
SUITES = ("transport", "sim", "model")


def add_arguments(parser) -> None:
    parser.add_argument("--suite", choices=SUITES, default="transport")
    parser.add_argument("--duration", type=float, default=4.0,
                        help="transport: streaming time per run [s]")
    parser.add_argument("--episodes", type=int, default=50, help="sim: expert episodes")
    parser.add_argument("--model", action="store_true", help="same as --suite model")
    parser.add_argument("--checkpoint", default="omni_small.pt", type=checkpoint_arg,
                        help="model: checkpoint to time (a path, or a name in the package's models/)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")


def run(args) -> int:
    from ..benchmarks import model, sim, transport

    if args.model:
        args.suite = "model"
    if args.suite == "model":
        result = model.run(args.checkpoint)
        table = model.markdown(result)
    elif args.suite == "transport":
        result = transport.run(args.duration)
        table = transport.markdown(result)
    else:
        result = sim.run(args.episodes)
        table = sim.markdown(result)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(
            f"# Benchmark: {args.suite}\n\nMade by `make bench` (`omni-ros bench --suite "
            f"{args.suite}`) on the 2-core CI machine kind; rerun it to reproduce.\n\n" + table)
        print(f"wrote {args.markdown}")
    return 0
