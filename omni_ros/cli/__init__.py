"""The ``omni-ros`` command line. Each subcommand is a module here with ``add_parser`` and
``run``; register it in SUBCOMMANDS. Heavy imports happen inside ``run`` so ``--help`` is fast."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

SUBCOMMANDS = {
    "doctor": "omni_ros.cli.doctor",
    "demo": "omni_ros.cli.demo",
    "bench": "omni_ros.cli.bench",
    "dataset": "omni_ros.cli.dataset",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omni-ros", description="omni_ros: shared-latent multimodal perception for ROS 2")
    parser.add_argument("--version", action="version", version=f"omni_ros {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
