"""Generate a multimodal dataset from randomised scripted-expert episodes in the simulator, or
convert an MCAP recording (of the sim bridge or of your own robot's topics) into the same
shards. Writes DIR/manifest.json and DIR/shard-*.npz; load them with
omni_ros.dataset.shards.load_dataset."""

from __future__ import annotations

from pathlib import Path

HELP = "generate a dataset from sim episodes (or --from-mcap FILE)"


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--episodes", type=int, default=10, help="number of episodes")
    parser.add_argument("--seed", type=int, default=0, help="episode i uses seed + i")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (with --ray "
                        "local: the CPUs of the local Ray)")
    parser.add_argument("--ray", nargs="?", const="local", default="", metavar="ADDRESS",
                        help="run the episodes as Ray tasks: on a Ray started here (no address) "
                             "or on a running cluster (auto, ray://HOST:10001); shards come back "
                             "to this machine, the same as without Ray for the same seeds")
    parser.add_argument("--samples-per-shard", type=int, default=256)
    parser.add_argument("--frame-stride", type=int, default=1,
                        help="keep every n-th camera frame (more scenes for the same size; "
                             "with --from-mcap too, so a bag trains beside sim data of that "
                             "stride)")
    parser.add_argument("--config", type=Path,
                        help="YAML of sim parameters (as under the sim bridge's 'sim.' "
                             "parameters; nested or dotted, e.g. camera.width: 96)")
    parser.add_argument("--model-config", type=Path, metavar="FILE",
                        help="the YAML the model will be trained with (omni-ros train --config): "
                             "its model.camera section decides how camera images become the "
                             "model's input (size, focal length, workspace_crop_m); default the "
                             "defaults")
    parser.add_argument("--from-mcap", type=Path, metavar="FILE",
                        help="convert this MCAP recording instead of simulating")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="with --from-mcap: read topic FROM as our topic TO (repeatable)")


def run(args) -> int:
    import yaml

    from ..core.config import ConfigError, flatten_tree, from_flat_dict
    from ..core.errors import InputError
    from ..dataset.generate import from_mcap, generate
    from omni_ros_sim.config import SimConfig

    from .train import load_config

    if min(args.episodes, args.workers, args.samples_per_shard, args.frame_stride) < 1:
        print("error: --episodes, --workers, --samples-per-shard and --frame-stride must be >= 1")
        return 2
    try:
        cfg = from_flat_dict(SimConfig, flatten_tree(yaml.safe_load(args.config.read_text()) or {})) \
            if args.config else SimConfig()
    except ConfigError as err:
        print(f"error in {args.config}: {err}")
        return 2
    try:
        camera = load_config(args.model_config).model.camera if args.model_config else None
    except (ConfigError, OSError) as err:
        print(f"error in --model-config {args.model_config}: {err}")
        return 2
    if args.from_mcap:
        if not args.from_mcap.is_file():
            print(f"error: {args.from_mcap} is not a file")
            return 2
        bad = [r for r in args.remap if ":=" not in r]
        if bad:
            print(f"error: --remap takes FROM:=TO, got {bad}")
            return 2
        remap = dict(r.split(":=", 1) for r in args.remap)
        try:
            manifest = from_mcap(args.from_mcap, args.out, args.samples_per_shard, cfg, remap,
                                 args.frame_stride, camera)
        except InputError as err:  # e.g. images of another size than the model reads
            print(f"error: {args.from_mcap}: {err}")
            return 2
    else:
        manifest = generate(args.out, args.episodes, args.seed, args.workers, cfg,
                            args.samples_per_shard, frame_stride=args.frame_stride,
                            ray_address=args.ray, camera=camera)
    stats = manifest["stats"]
    print(f"wrote {manifest['samples']} samples in {len(manifest['shards'])} shard(s) to "
          f"{args.out} ({stats['samples_per_s']:.1f} samples/s, "
          f"{stats['bytes_per_sample'] / 1024:.1f} KiB/sample)")
    if "expert_success" in stats:
        print(f"expert success: {stats['expert_success']:.0%} of {len(manifest['episodes'])} episodes")
    return 0
