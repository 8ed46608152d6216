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
    "train": "omni_ros.cli.train",
    "eval": "omni_ros.cli.eval",
    "compress": "omni_ros.cli.compress",
    "distill": "omni_ros.cli.distill",
    "federate": "omni_ros.cli.federate",
    "up": "omni_ros.cli.up",
    "discovery": "omni_ros.cli.discovery",
    "cloud": "omni_ros.cli.cloud",
    "frames": "omni_ros.cli.frames",
    "viz": "omni_ros.cli.viz",
    "explain": "omni_ros.cli.explain",
}


def checkpoint_arg(value: str) -> str:
    """A checkpoint given on the command line: a file path (relative to the working directory,
    as the user typed it), else a name that resolves in the package's models/ folder."""
    from pathlib import Path

    p = Path(value)
    return str(p.resolve()) if p.is_file() else value


def not_datasets(dirs) -> bool:
    """Print an error naming the folders among ``dirs`` that are not dataset folders (no
    manifest.json); True if there was any (the command then exits with 2)."""
    from pathlib import Path

    from ..dataset.shards import MANIFEST

    missing = [str(d) for d in dirs if not (Path(d) / MANIFEST).exists()]
    if missing:
        print(f"error: {missing} not dataset folders (no {MANIFEST}); make them with "
              "`omni-ros dataset`")
    return bool(missing)


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
    args._argv = list(sys.argv[1:] if argv is None else argv)  # the command, as given
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
