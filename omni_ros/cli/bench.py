"""Run benchmarks. Every figure is reported next to a baseline measured in the same run (a ratio),
since absolute times depend on the machine and its load."""

from __future__ import annotations

import json
from pathlib import Path

HELP = "run benchmarks (transport: conversion and DDS cost of 1 MB images / 100k-point clouds)"
SUITES = ("transport",)


def add_arguments(parser) -> None:
    parser.add_argument("--suite", choices=SUITES, default="transport")
    parser.add_argument("--duration", type=float, default=4.0, help="streaming time per run [s]")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")


def run(args) -> int:
    from ..benchmarks import transport

    result = transport.run(args.duration)
    table = transport.markdown(result)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(
            "# Benchmark results\n\nMade by `make bench` (`omni-ros bench --suite transport`) on "
            "the 2-core CI machine kind; rerun it to reproduce.\n\n" + table)
        print(f"wrote {args.markdown}")
    return 0
