"""Train the omni model on dataset shards (``omni-ros dataset``) and save a checkpoint with its
config inside, plus a loss-curve PNG next to it (NAME.loss.png)."""

from __future__ import annotations

from pathlib import Path

from . import not_datasets

HELP = "train the omni model on dataset shards"


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, nargs="+", required=True,
                        help="dataset folder(s), trained on as one")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    parser.add_argument("--config", type=Path,
                        help="YAML overriding the config tree (nested or dotted names: "
                             "model.router.kind: concat, train.epochs: 10)")
    parser.add_argument("--epochs", type=int, help="shortcut for train.epochs")


def load_config(path: Path | None, overrides: dict | None = None):
    import yaml

    from ..core.config import flatten_tree, from_flat_dict
    from ..core.model.model_config import OmniConfig

    values = flatten_tree(yaml.safe_load(path.read_text()) or {}) if path else {}
    values.update(overrides or {})
    return from_flat_dict(OmniConfig, values)


def run(args) -> int:
    from ..core.config import ConfigError
    from ..learning.train import train

    import yaml

    if args.config and not args.config.is_file():
        print(f"error: --config {args.config}: no such file")
        return 2
    try:
        cfg = load_config(args.config, {"train.epochs": args.epochs} if args.epochs else None)
    except (ConfigError, yaml.YAMLError) as err:
        print(f"error: {args.config}: {err}")
        return 2
    if not_datasets(args.data):
        return 2
    from ..dataset.shards import DatasetError

    try:
        info = train(args.data, args.out, cfg)
    except DatasetError as err:
        print(f"error: {err}")
        return 2
    last = info["history"][-1]
    print(f"trained on {info['train_samples']} samples for {info['epochs']} epochs in "
          f"{info['train_time_s'] / 60:.1f} min; final loss {last['total']:.3f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) and "
          f"{args.out.with_suffix('.loss.png')}")
    return 0
