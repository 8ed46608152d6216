"""Train a student from a teacher checkpoint: a model for a robot with fewer sensors (a subset
of the teacher's modalities) or a smaller one (narrower encoders in --student-config), learning
the teacher's fused latent, per-modality latents and object head outputs on every sample, the
labels where present, and the teacher's other head outputs where they are not. --unlabelled folders (e.g. `omni-ros dataset --from-mcap` of your robot's
bags) are learned from the teacher alone; --labels F keeps the labels of a fraction of the
episodes. --scratch trains the same student from the labels alone (the baseline). The student
is an ordinary checkpoint: perception loads it by name and fuses only its modalities.

  omni-ros distill --teacher omni_small.pt --modalities camera --data build/data/train_a \\
      --out omni_camera.pt
  omni-ros distill --teacher omni_small.pt --modalities tactile,force --data D --labels 0.02 \\
      --unlabelled build/data/my_bags --out omni_gripper.pt
"""

from __future__ import annotations

from pathlib import Path

from . import checkpoint_arg, not_datasets

HELP = "train a student (fewer sensors, smaller encoders) from a teacher checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("--teacher", required=True, type=checkpoint_arg,
                        help="teacher checkpoint (path, or a name in the package's models/)")
    parser.add_argument("--modalities", required=True,
                        help="the student's sensors, comma-separated (a subset of the teacher's)")
    parser.add_argument("--data", type=Path, nargs="+", required=True,
                        help="dataset folder(s) whose labels the student may use")
    parser.add_argument("--unlabelled", type=Path, nargs="+", default=[],
                        help="dataset folder(s) learned from the teacher's outputs only")
    parser.add_argument("--labels", type=float, default=1.0, metavar="F",
                        help="fraction of the labelled episodes whose labels are used "
                             "(train.label_fraction; the rest is learned from the teacher)")
    parser.add_argument("--student-config", type=Path,
                        help="YAML overriding the student's config (which starts as the "
                             "teacher's), e.g. model.camera.channels or distill.temperature")
    parser.add_argument("--epochs", type=int, help="shortcut for train.epochs")
    parser.add_argument("--scratch", action="store_true",
                        help="no distillation: the same student from the labels alone")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")


def student_config(teacher_flat: dict, modalities: list[str], yaml_values: dict,
                   overrides: dict):
    """The student's config: the teacher's (its compression, initialisation and the router
    rules of combinations the student cannot have dropped), then ``yaml_values``, then
    ``overrides``."""
    from ..core.config import from_flat_dict
    from ..core.model.model_config import OmniConfig
    from ..core.model.router import parse_rules

    flat = {k: v for k, v in teacher_flat.items()
            if not k.startswith(("compress.", "distill.")) and k not in ("train.init_from",
                                                                        "train.trainable")}
    flat["model.router.rules"] = [r for r in flat.get("model.router.rules", [])
                                  if set(next(iter(parse_rules([r])))) <= set(modalities)]
    flat["model.modalities"] = modalities
    flat.update(yaml_values)
    flat.update(overrides)
    return from_flat_dict(OmniConfig, flat)


def run(args) -> int:
    import yaml

    from ..core.config import ConfigError, flatten_tree, from_flat_dict
    from ..core.model.model_config import OmniConfig
    from ..core.model.checkpoint import CheckpointError, resolve, stored_config
    from ..dataset.shards import DatasetError
    from ..learning.students import StudentError, check_student
    from ..learning.train import train

    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    if not modalities:
        print("error: --modalities names no modality")
        return 2
    if args.scratch and args.unlabelled:
        print("error: --unlabelled needs a teacher to learn from (drop --scratch)")
        return 2
    if not_datasets([*args.data, *args.unlabelled]):
        return 2
    if args.student_config and not args.student_config.is_file():
        print(f"error: --student-config {args.student_config}: no such file")
        return 2
    try:
        teacher = str(resolve(args.teacher))
        teacher_flat, compressed = stored_config(teacher)
        if compressed:
            raise CheckpointError(f"{teacher} is compressed (ONNX graphs); distil from the "
                                  "float checkpoint it was made from")
        values = flatten_tree(yaml.safe_load(args.student_config.read_text()) or {}) \
            if args.student_config else {}
        overrides = {"distill.teacher": "" if args.scratch else teacher,
                     "train.label_fraction": args.labels}
        if args.epochs:
            overrides["train.epochs"] = args.epochs
        cfg = student_config(teacher_flat, modalities, values, overrides)
        check_student(cfg.model, from_flat_dict(OmniConfig, teacher_flat).model,
                      Path(teacher).name)
        info = train(args.data, args.out, cfg, unlabelled=args.unlabelled)
    except (CheckpointError, ConfigError, DatasetError, StudentError, yaml.YAMLError) as err:
        print(f"error: {err}")
        return 2
    last = info["history"][-1]
    how = "from labels alone" if args.scratch else f"from {Path(teacher).name}"
    print(f"trained a {'+'.join(modalities)} student {how} on {info['train_samples']} samples "
          f"({info['labelled_samples']} with labels) for {info['epochs']} epochs in "
          f"{info['train_time_s'] / 60:.1f} min; final loss {last['total']:.3f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0
