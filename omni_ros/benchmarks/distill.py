"""Distillation benchmark (``omni-ros bench --suite distill``): students of the shipped
all-sensor teacher for robots with fewer sensors or a smaller computer, each trained twice on
the same samples for the same number of steps - from the labels alone (scratch) and from the
teacher too (distilled, :mod:`omni_ros.learning.students`) - at 100, 10 and 2 % of the
episodes' labels, and with unlabelled recordings of other scenes added to 2 % labels; and a
camera student adapted to robot cells it has no labels for (:data:`ADAPT`, :func:`adapt`).

Data (generated once into ``build/distill``, reused): training scenes on seeds 0-159 (the
teacher's training seeds; every 4th camera frame), unlabelled scenes on seeds 2000-2159 (no
label of them is read), held-out scenes on seeds 5000-5019 and 6000-6019 (``build/data/eval_a``
and ``eval_b`` as tools/train_model.sh makes them); for :data:`ADAPT`, randomised cells on
seeds 40000-40159 (unlabelled) and 5000-5019 (held out). Nothing here is tuned: the distillation
weights and temperature are the config's defaults, fixed before the first run; the held-out
seeds are only evaluated. Trained students are kept in ``build/distill`` and reused when their
config is unchanged (delete the folder to retrain).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from omni_ros_sim.config import SimConfig

from ..cli.distill import student_config
from ..core.config import to_flat_dict
from ..core.model.checkpoint import load_checkpoint, resolve, stored_config
from ..dataset.generate import generate
from ..dataset.shards import MANIFEST
from ..learning.data import ShardData
from ..learning.evaluate import evaluate
from ..learning.train import train
from .cells import CELLS, cell_config

FIVE = ("camera", "lidar", "audio", "tactile", "force")
# name -> (modalities, config overrides of the student, label fractions)
STUDENTS: dict[str, tuple[tuple[str, ...], dict, tuple[float, ...]]] = {
    "camera": (("camera",), {}, (1.0, 0.1, 0.02)),
    "tactile + force": (("tactile", "force"), {}, (1.0, 0.1, 0.02)),
    "camera + lidar": (("camera", "lidar"), {}, (1.0, 0.1, 0.02)),
    "all five, camera at 1/4 width": (FIVE, {"model.camera.channels": [4, 8, 16],
                                             "model.camera.pixel_dim": 8,
                                             "model.camera.feature_dim": 32,
                                             "model.camera.head_width": 16}, (1.0, 0.1, 0.02)),
    "all five, camera at 1/2 width": (FIVE, {"model.camera.channels": [8, 16, 32],
                                             "model.camera.pixel_dim": 16,
                                             "model.camera.feature_dim": 64,
                                             "model.camera.head_width": 32}, (1.0, 0.1, 0.02)),
}
UNLABELLED_FRACTION = 0.02
METRICS = ("contact_state_acc", "impact_balanced_acc", "held_identity_acc", "fused_score",
           "object_localisation_median_cm", "shape_colour_acc", "grounding_acc")

# Adapting to cells without their labels: the randomised-cells teacher (tools/train_cells.sh)
# teaches a camera student that has the labels of the training cell only; unlabelled
# recordings of as many randomised cells - or, the control, of the training cell on other
# seeds - are added with the teacher's outputs as their only targets. Held out: randomised
# cells (bench --suite cells's "random cells") on HELDOUT_CELLS seeds, every 2nd frame.
ADAPT = "camera in unlabelled cells"
ADAPT_CONTROL = "camera in unlabelled cells (control)"  # the ~40 min control run on its own
ADAPT_TEACHER = "omni_cells.pt"
CELL_METRICS = METRICS + ("object_detection_recall",)
HELDOUT_CELLS = (20, 5000)  # episodes, first seed
UNLABELLED_CELLS_SEED = 40000
CHOICES = (*STUDENTS, ADAPT, ADAPT_CONTROL)


def parse_students(text: str) -> tuple[str, ...]:
    """The :data:`CHOICES` named in ``text``, comma-separated (names may hold commas: "all
    five, camera at 1/2 width"); ValueError names an unknown one and the choices."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    chosen, i = [], 0
    while i < len(parts):
        j = next((j for j in range(len(parts), i, -1) if ", ".join(parts[i:j]) in CHOICES), None)
        if j is None:
            raise ValueError(f"--students: {parts[i]!r} is not among {list(CHOICES)}")
        chosen.append(", ".join(parts[i:j]))
        i = j
    return tuple(chosen)


def parse_labels(text: str) -> tuple[float, ...] | None:
    """The label fractions in ``text`` ("1,0.1"), None for all; ValueError names a fraction
    that no student trains at and the ones they do."""
    known = sorted({f for _, _, fractions in STUDENTS.values() for f in fractions}, reverse=True)
    chosen = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            f = float(part.rstrip("%")) / (100 if part.endswith("%") else 1)
        except ValueError:
            f = None
        if f not in known:
            raise ValueError(f"--labels: {part!r} is not a label fraction of the students: "
                             f"{', '.join(f'{k:g}' for k in known)}")
        chosen.append(f)
    return tuple(chosen) or None


def dataset(folder: Path, episodes: int, seed: int, frame_stride: int,
            sim_cfg: SimConfig | None = None) -> Path:
    """``folder`` holding ``episodes`` sim episodes from ``seed`` (in the cells ``sim_cfg``
    makes, the training cell by default): generated unless it exists."""
    if not (folder / MANIFEST).exists():
        generate(folder, episodes, seed, workers=2, cfg=sim_cfg, frame_stride=frame_stride)
    return folder


def student(path: Path, cfg, data: list[Path], unlabelled: list[Path], log=print) -> dict:
    """Train the student ``cfg`` into ``path`` unless a checkpoint with that config is there,
    newer than its teacher (``distill.teacher``: a retrained teacher retrains its students);
    its training info."""
    wanted = to_flat_dict(cfg)
    teacher = wanted.get("distill.teacher") or ""
    if path.exists() and teacher and Path(teacher).stat().st_mtime_ns > path.stat().st_mtime_ns:
        log(f"distill bench: {Path(teacher).name} is newer than {path.name}: retraining")
    elif path.exists():
        try:
            flat, _ = stored_config(path)
            if flat == wanted:
                return load_checkpoint(path)[2]
        except Exception:  # noqa: BLE001  (unreadable: retrain)
            pass
    log(f"distill bench: training {path.name}")
    return train(data, path, cfg, progress=False, plot=False, unlabelled=unlabelled)


def scores(checkpoint, eval_dirs: list[Path], cache_dir: Path,
           only: tuple[str, ...] | None = None, frame_stride: int = 2,
           metrics: tuple[str, ...] = METRICS, tag: str = "") -> dict:
    """Held-out ``metrics`` of ``checkpoint`` on every ``frame_stride``-th sample of
    ``eval_dirs`` (``only``: with just those of its sensors present); kept in ``cache_dir``
    (named with ``tag``) while the checkpoint file and the data folders are unchanged."""
    path = Path(checkpoint)
    cache = Path(cache_dir) / f"{path.stem}.{tag}{'+'.join(only) if only else 'all'}.scores.json"
    key = [path.stat().st_mtime_ns, path.stat().st_size, [str(d) for d in eval_dirs]]
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored["scores"]
    model, cfg, _ = load_checkpoint(checkpoint)
    data = ShardData(eval_dirs, cfg.model, frame_stride, seed=1, progress=False)
    if only is not None:
        data.present &= torch.as_tensor([n in only for n in model.names])
    m = evaluate(model, data, ablations=False)["metrics"]
    result = {k: m.get(k, float("nan")) for k in metrics}
    cache.write_text(json.dumps({"key": key, "scores": result}))
    return result


def speeds(checkpoints: list[str], rounds: int = 5) -> dict[str, dict]:
    """Per checkpoint (bench --suite model, batch 1): fused step and camera encoder [ms] (the
    best of ``rounds`` interleaved passes, measured after all training so no run competes with
    it) and parameter count."""
    from . import model as model_bench

    best: dict[str, dict] = {}
    for _ in range(rounds):
        for c in checkpoints:
            r = model_bench.run(c)
            now = {"fused_step_ms": r["fused_step_ms"],
                   "camera_encoder_ms": r["encoder_ms"].get("camera", float("nan")),
                   "parameters": r["parameters"]}
            best[c] = {k: min(v, best.get(c, now)[k]) for k, v in now.items()}
    return best


def adapt(root: Path, teacher_flat: dict, train_dir: Path, unlabelled_dir: Path,
          episodes: int, epochs: int | None, control: bool = True, log=print) -> list[dict]:
    """The camera students of :data:`ADAPT` (trained unless kept) and, with ``control``, the
    control run (:data:`ADAPT_CONTROL`), scored on held-out randomised cells with the teacher
    beside them; each has the schedule (epochs) of the table's students (``teacher_flat``'s,
    or ``epochs``)."""
    cells = cell_config(CELLS["random cells"][1])
    heldout = dataset(root / "cells_heldout", *HELDOUT_CELLS, 2, cells)
    recordings = dataset(root / "cells_unlabelled", episodes, UNLABELLED_CELLS_SEED, 4, cells)
    teacher = str(resolve(ADAPT_TEACHER))
    cells_flat, _ = stored_config(teacher)
    schedule = {"train.label_fraction": 1.0, "train.epochs": epochs or teacher_flat["train.epochs"]}
    runs = [("scratch (labels only)", teacher_flat, "", [], "camera_scratch_1"),
            ("distilled", cells_flat, teacher, [], "cells_camera_distilled"),
            (f"distilled + {episodes} randomised cells, unlabelled", cells_flat, teacher,
             [recordings], "cells_camera_distilled_cells")]
    if control:  # as many unlabelled scenes, of the training cell: "other cells" or "more data"?
        runs.append((f"distilled + {episodes} training-cell scenes, unlabelled (control)",
                     cells_flat, teacher, [unlabelled_dir], "cells_camera_distilled_trainingcell"))
    rows = []
    for kind, flat, source, extra, stem in runs:
        cfg = student_config(flat, ["camera"], {}, {"distill.teacher": source, **schedule})
        path = root / f"{stem}.pt"
        info = student(path, cfg, [train_dir], extra, log)
        rows.append({"kind": kind, "checkpoint": str(path),
                     "train_samples": info.get("train_samples"),
                     **scores(path, [heldout], root, None, 1, CELL_METRICS, "cells.")})
        log(f"distill bench: {ADAPT} {kind}: detection recall "
            f"{rows[-1]['object_detection_recall']:.3f}")
    for kind, only in (("teacher with the camera only", ("camera",)),
                       ("teacher with all its sensors", None)):
        rows.append({"kind": kind, "checkpoint": teacher, "train_samples": None,
                     **scores(teacher, [heldout], root, only, 1, CELL_METRICS, "cells.")})
    return rows


def run(teacher: str = "omni_small.pt", root: Path = Path("build/distill"), episodes: int = 160,
        epochs: int | None = None, students: tuple[str, ...] | None = None,
        labels: tuple[float, ...] | None = None, log=print) -> dict:
    """Train (or reuse) and score the chosen ``students`` (default: all of :data:`CHOICES`) at
    their label fractions, or only at ``labels`` (a subset run; the cache keeps the others)."""
    t0 = time.monotonic()
    root = Path(root)
    train_dir = dataset(root / "train", episodes, 0, 4)
    unlabelled_dir = dataset(root / "unlabelled", episodes, 2000, 4)
    eval_dirs = [dataset(Path("build/data/eval_a"), 20, 5000, 1),
                 dataset(Path("build/data/eval_b"), 20, 6000, 1)]
    teacher_path = str(resolve(teacher))
    teacher_flat, _ = stored_config(teacher_path)
    rows = []
    for name in [s for s in students or CHOICES if s in STUDENTS]:
        mods, overrides, fractions = STUDENTS[name]
        slug = name.replace(" ", "").replace(",", "_").replace("/", "-").replace("+", "_")
        for fraction in [f for f in fractions if labels is None or f in labels]:
            runs = [("scratch", "", []), ("distilled", teacher_path, [])]
            if fraction == UNLABELLED_FRACTION:
                runs.insert(0, ("distilled + unlabelled", teacher_path, [unlabelled_dir]))
            for kind, source, extra in runs:
                cfg = student_config(teacher_flat, list(mods), overrides,
                                     {"distill.teacher": source, "train.label_fraction": fraction,
                                      **({"train.epochs": epochs} if epochs else {})})
                path = root / f"{slug}_{kind.replace(' + ', '_')}_{fraction:g}.pt"
                info = student(path, cfg, [train_dir], extra, log)
                rows.append({"student": name, "modalities": list(mods), "labels": fraction,
                             "kind": kind, "checkpoint": str(path),
                             "labelled_samples": info.get("labelled_samples"),
                             "train_samples": info.get("train_samples"),
                             "train_min": info.get("train_time_s", float("nan")) / 60,
                             "size_mb": path.stat().st_size / 1e6,
                             **scores(path, eval_dirs, root)})
                log(f"distill bench: {name} {kind} {fraction:.0%}: fusion score "
                    f"{rows[-1]['fused_score']:.3f}")
                (root / "progress.json").write_text(json.dumps(rows, indent=1))
        if mods != FIVE:
            rows.append({"student": name, "modalities": list(mods), "labels": 1.0,
                         "kind": "teacher with only these sensors", "checkpoint": teacher_path,
                         "size_mb": float("nan"), **scores(teacher_path, eval_dirs, root, mods)})
    ms = speeds([teacher_path] + [r["checkpoint"] for r in rows if r["checkpoint"] != teacher_path])
    for r in rows:
        own = r["checkpoint"] != teacher_path
        for k, v in ms[r["checkpoint"]].items():
            r[k] = v if own else float("nan")
        r["speedup_vs_teacher"] = (ms[teacher_path]["fused_step_ms"] / r["fused_step_ms"]
                                   if own else float("nan"))
    chosen = students or CHOICES
    adapted = (adapt(root, teacher_flat, train_dir, unlabelled_dir, episodes, epochs,
                     ADAPT_CONTROL in chosen, log)
               if ADAPT in chosen or ADAPT_CONTROL in chosen else [])
    return {"teacher": teacher_path, "teacher_fused_step_ms": ms[teacher_path]["fused_step_ms"],
            "teacher_camera_encoder_ms": ms[teacher_path]["camera_encoder_ms"],
            "teacher_parameters": ms[teacher_path]["parameters"],
            "teacher_all_sensors": scores(teacher_path, eval_dirs, root),
            "train_episodes": episodes, "rows": rows, "adapt": adapted,
            "adapt_teacher": ADAPT_TEACHER, "wall_s": time.monotonic() - t0}


def _fmt(v, pct=True) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{100 * v:.1f}" if pct else f"{v:.2f}"


def markdown(r: dict) -> str:
    t = r["teacher_all_sensors"]
    lines = ["## Students of the all-sensor teacher: scratch vs distilled", "",
             f"Teacher `{Path(r['teacher']).name}` with all its sensors: fusion score "
             f"{_fmt(t['fused_score'])}, contact {_fmt(t['contact_state_acc'])}, held identity "
             f"{_fmt(t['held_identity_acc'])}, shape+colour {_fmt(t['shape_colour_acc'])}, "
             f"grounding {_fmt(t['grounding_acc'])}; fused step "
             f"{r.get('teacher_fused_step_ms', np.nan):.2f} ms (camera encoder "
             f"{r.get('teacher_camera_encoder_ms', np.nan):.2f} ms), "
             f"{r.get('teacher_parameters', 0) / 1e6:.2f} M parameters.",
             "",
             f"Students trained on {r['train_episodes']} scenes (labels of the fraction of episodes "
             "given; every run on the same folders takes the same number of steps, whatever share of them has labels); held-out seeds 5000-5019 and "
             "6000-6019, every 2nd frame. Fusion score = mean of contact state, impact (balanced) "
             "and held-object identity accuracy. Accuracies in %.", "",
             "| student | labels | trained | fusion score | contact | impact | held id | "
             "localisation [cm] | shape+colour | grounding | fused step ms (× faster than "
             "teacher) | camera encoder ms | parameters M | size MB |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        step = "–" if not np.isfinite(row.get("fused_step_ms", np.nan)) else \
            f"{row['fused_step_ms']:.2f} ({row['speedup_vs_teacher']:.1f}×)"
        lines.append(f"| {row['student']} | {row['labels']:.0%} | {row['kind']} | "
                     f"**{_fmt(row['fused_score'])}** | {_fmt(row['contact_state_acc'])} | "
                     f"{_fmt(row['impact_balanced_acc'])} | {_fmt(row['held_identity_acc'])} | "
                     f"{_fmt(row['object_localisation_median_cm'], False)} | "
                     f"{_fmt(row['shape_colour_acc'])} | {_fmt(row['grounding_acc'])} | {step} | "
                     f"{_fmt(row.get('camera_encoder_ms'), False)} | "
                     f"{_fmt(row.get('parameters', np.nan) / 1e6, False)} | "
                     f"{_fmt(row['size_mb'], False)} |")
    if r.get("note"):  # e.g. what a result merged from several runs does not cover
        lines += ["", r["note"]]
    if r.get("adapt"):
        n, s0 = HELDOUT_CELLS
        lines += ["", "### A camera student in cells it has no labels for", "",
                  f"Teacher `{r['adapt_teacher']}` (trained on randomised cells); camera "
                  f"students with the labels of the {r['train_episodes']} training-cell scenes "
                  "above, the same schedule; unlabelled recordings learned from the teacher "
                  f"alone. Held out: {n} randomised cells (seeds {s0}-{s0 + n - 1}: camera "
                  "mount, lens, resolution, lighting, objects), every 2nd frame. Detection = a "
                  "perceived object within 3 cm of a visible true one. Accuracies in %."
                  + (f" {r['adapt_note']}" if r.get("adapt_note") else ""), "",
                  "| camera student | train samples | detection recall | localisation [cm] | "
                  "shape+colour | grounding | fusion score | contact | impact | held id |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in r["adapt"]:
            lines.append(f"| {row['kind']} | {row['train_samples'] or '–'} | "
                         f"**{_fmt(row['object_detection_recall'])}** | "
                         f"{_fmt(row['object_localisation_median_cm'], False)} | "
                         f"{_fmt(row['shape_colour_acc'])} | {_fmt(row['grounding_acc'])} | "
                         f"{_fmt(row['fused_score'])} | {_fmt(row['contact_state_acc'])} | "
                         f"{_fmt(row['impact_balanced_acc'])} | "
                         f"{_fmt(row['held_identity_acc'])} |")
    lines += ["", f"Bench wall time {r.get('wall_s', np.nan) / 60:.0f} min."]
    return "\n".join(lines) + "\n"
