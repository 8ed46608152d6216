"""Compress a trained checkpoint: drop the modality branches the router rarely uses, narrow the
camera path (channel pruning, distilled from the full one), run the encoders and the object
head on ONNX Runtime, quantize them to int8. The result is an ordinary
checkpoint (its config's ``compress`` section says what was done) that perception
(``checkpoint:=NAME``) and ``omni-ros eval`` load by name.

  omni-ros compress --checkpoint omni_small.pt --int8 --prune-branches auto --out omni_small_int8.pt
  omni-ros compress --checkpoint omni_small.pt --prune-channels 0.5 --int8 --out omni_small_slim.pt
"""

from __future__ import annotations

from . import checkpoint_arg

HELP = ("prune, export to ONNX and quantize a checkpoint (int8, router-driven branch pruning, "
        "camera channel pruning + distillation)")


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, type=checkpoint_arg,
                        help="the trained checkpoint (a path, or a name in the package's models/)")
    parser.add_argument("--out", required=True,
                        help="checkpoint to write: a bare name goes beside --checkpoint, a path "
                             "where it says")
    parser.add_argument("--onnx", action="store_true",
                        help="run the encoders and the object head on ONNX Runtime (float)")
    parser.add_argument("--int8", action="store_true",
                        help="... quantized to int8 (static, calibrated on sim episodes); implies --onnx")
    parser.add_argument("--int8-exclude", default="",
                        help="comma-separated parts kept in float: encoders.<modality>, object_head")
    parser.add_argument("--int8-min-speedup", type=float, default=1.1,
                        help="a part stays int8 only if it runs this many times faster than its "
                             "float graph (default 1.1; 0 = always)")
    parser.add_argument("--prune-branches", default="none",
                        help="'auto' (every modality but the camera whose mean gate is below "
                             "--min-gate and whose absence changes at most --max-change of the "
                             "fused decisions), 'none', or comma-separated modalities to drop")
    parser.add_argument("--min-gate", type=float, default=0.1,
                        help="auto: the mean-gate threshold (default 0.1)")
    parser.add_argument("--max-change", type=float, default=0.01,
                        help="auto: keep a modality below --min-gate if, without it, more than "
                             "this share of a fused decision changes on the calibration episodes "
                             "(default 0.01: a microphone used only at impacts stays)")
    parser.add_argument("--prune-channels", type=float, default=0.0,
                        help="fraction of the camera path's channels to remove (U-Net widths and "
                             "object head; weakest first), then distil it from the unpruned "
                             "model on sim camera frames (e.g. 0.25; default 0 = none)")
    parser.add_argument("--distill-episodes", type=int, default=64,
                        help="--prune-channels: sim episodes whose camera frames it is distilled on")
    parser.add_argument("--distill-epochs", type=int, default=10,
                        help="--prune-channels: passes over those frames")
    parser.add_argument("--distill-lr", type=float, default=2e-3,
                        help="--prune-channels: peak learning rate of the distillation (default 2e-3)")
    parser.add_argument("--calibration-episodes", type=int, default=4,
                        help="sim episodes for the gate statistics and the int8 calibration")


def config_from_args(args):
    """The CompressConfig the arguments describe (validated: ConfigError says what is wrong)."""
    from ..core.config import from_flat_dict
    from ..core.model.model_config import CompressConfig

    auto = args.prune_branches.strip() == "auto"
    names = [] if auto or args.prune_branches.strip() in ("", "none") else \
        [n.strip() for n in args.prune_branches.split(",") if n.strip()]
    return from_flat_dict(CompressConfig, {
        "prune_branches": names, "min_gate": args.min_gate if auto else 0.0,
        "max_change": args.max_change,
        "onnx": bool(args.onnx or args.int8), "int8": bool(args.int8),
        "int8_exclude": [p.strip() for p in args.int8_exclude.split(",") if p.strip()],
        "int8_min_speedup": args.int8_min_speedup,
        "prune_channels": args.prune_channels, "distill_episodes": args.distill_episodes,
        "distill_epochs": args.distill_epochs, "distill_lr": args.distill_lr,
        "calibration_episodes": args.calibration_episodes})


def run(args) -> int:
    from ..core.config import ConfigError
    from ..core.model.checkpoint import CheckpointError
    from ..learning.compress import compress

    try:
        cfg = config_from_args(args)
        compress(args.checkpoint, args.out, cfg)
    except (ConfigError, CheckpointError, ValueError) as err:
        print(f"error: {err}")
        return 2
    return 0
