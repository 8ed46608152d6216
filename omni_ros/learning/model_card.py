"""Writes models/MODEL_CARD.md from a checkpoint's training info and its ``omni-ros eval`` JSON."""

from __future__ import annotations

import json
from pathlib import Path

# metric -> (target, higher is better, text)
TARGETS = {
    "object_localisation_median_cm": (1.0, False, "object localisation, median [cm]"),
    "shape_colour_acc": (0.97, True, "shape + colour accuracy"),
    "contact_state_acc": (0.97, True, "grasp / contact state accuracy"),
    "held_identity_without_camera_acc": (0.85, True, "held-object identity without camera"),
    "retrieval_touch_to_camera_r1": (0.70, True, "retrieval R@1, tactile+force -> camera object"),
    "grounding_acc": (0.95, True, "command grounding (text only)"),
}


def verdict(value: float, target: float, higher: bool) -> str:
    ok = value >= target if higher else value <= target
    return "met" if ok else "**missed**"


def ranges_text(seeds: list) -> str:
    """[[0, 719]] or the older [0, 719] -> "0-719"; several ranges joined by commas."""
    if seeds and not isinstance(seeds[0], list):
        seeds = [seeds]
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in seeds)


def nth(n: int) -> str:
    return {1: "", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def impact_limitation(results: dict) -> str:
    """The card's caveat on impact material, with the eval set's count of impact samples
    (``results["impact_samples"]``; older eval files lack it)."""
    n, ev = results.get("impact_samples"), results.get("data", {})
    if n is None:
        where = "the eval file does not say how many"
    elif n == 0:
        where = "the eval set holds none"
    else:
        stride = ev.get("frame_stride", 1)
        frames = f"every {nth(stride)} frame" if stride > 1 else "every frame"
        where = (f"the {ev['episodes']}-episode eval set holds {n} at {frames}" if "episodes" in ev
                 else f"{n} impact samples") + f", so one impact is {100 / n:.1f} points"
    return (f"Impact material (`impact_material_acc`) is measured on few impacts: {where}. "
            "Impacts carry their material since the sim's sounds follow the impulse (issue 14); "
            "on the older, gentle impacts this model's predecessor reached 0.41 with audio alone "
            "at chance.")


LIMITATIONS = [
    "Shape errors are mostly small (4 cm) cubes seen nearly face-on by the static 96 px camera "
    "(about 5 px wide), read as cylinders.",
    "The training camera is fixed (the config's `model.camera`): for other mounts, lenses and "
    "lighting use `omni_cells_crop.pt` (bench/cells_crop_model_card.md) or `omni_cells.pt` "
    "(bench/cells_model_card.md).",
    "The own tokenizer maps words outside its vocabulary to <unk>; held-out paraphrases "
    "(`grounding_paraphrase_acc`: 'fetch the azure orb') are grounded through the command "
    "lexicon, which maps unseen words onto the vocabulary before the text encoder sees them.",
]


def write_card(path: Path, info: dict, results: dict, bench: dict, reproduce: str,
               loss_png: str | None = None, config: dict | None = None,
               variants: dict | None = None, name: str = "omni_small.pt") -> Path:
    """``variants``: name -> (training info, config, eval results) of fine-tuned variants."""
    m, ab = results["metrics"], results["ablations"]
    ev = results.get("data", {})
    ev_seeds = ranges_text(ev.get("seeds", [])) or "unknown"
    lines = [f"# {Path(name).stem} - model card", "",
             "Shared-latent multimodal model of omni_ros: camera (RGB-D), lidar, audio, tactile "
             "and force/torque encoders project into one 128-d L2-normalised space; a learned "
             "gated router fuses whatever is present; heads decode objects, contact/grasp state, "
             "impacts, the held object, and ground text commands. Trained by `omni-ros train` on "
             "2 CPU cores.", "",
             "## Data", "",
             f"- Training: {info['train_samples']} samples (every "
             f"{nth(info['frame_stride'])} camera frame) of {info['train_episodes']} "
             f"scripted-expert pick-and-place episodes in the PyBullet sim (seeds "
             f"{ranges_text(info['train_seeds'])}), 3-6 objects of 3 shapes x 6 colours "
             "x 4 materials per scene.",
             f"- Evaluation: {results['samples']} samples (every {nth(ev.get('frame_stride', 1))} "
             f"frame) of {ev.get('episodes', '?')} held-out episodes on fresh seeds ({ev_seeds}).",
             f"- Training time: {info['train_time_s'] / 60:.1f} min on 2 cores, {info['epochs']} epochs"
             + (f" (losses: [{loss_png}]({loss_png}))." if loss_png else "."),
             "", "## Targets (held-out)", "", "| metric | target | measured | |", "|---|---:|---:|---|"]
    for k, (target, higher, text) in TARGETS.items():
        v = m[k]
        lines.append(f"| {text} | {'>=' if higher else '<='} {target} | {v:.3f} | "
                     f"{verdict(v, target, higher)} |")
    g, best = m["fused_score"], m["best_single_modality_score"]
    lines.append(f"| gated fusion score >= best single modality | {best:.3f} | {g:.3f} | "
                 f"{verdict(g, best, True)} |")
    if "concat_score" in m:
        lines.append(f"| gated fusion score >= concatenation | {m['concat_score']:.3f} | {g:.3f} | "
                     f"{verdict(g, m['concat_score'], True)} |")
    lines.append(f"| fused step, batch 1, CPU [ms] | <= 5 | {bench['fused_step_ms']:.2f} | "
                 f"{verdict(bench['fused_step_ms'], 5.0, False)} |")
    lines += ["", "Fusion score = mean of contact-state accuracy, impact balanced accuracy and "
              "held-object identity accuracy (the tasks that need more than one sensor).", "",
              "## Other metrics", "", "| metric | value |", "|---|---:|"]
    for k, v in m.items():
        if k not in TARGETS and not isinstance(v, dict):
            lines.append(f"| {k} | {v:.4f} |")
    gates = m.get("mean_gates_all_present", {})
    if gates:
        lines.append("| mean gates, all present | " + ", ".join(f"{a} {b:.2f}" for a, b in gates.items())
                     + " |")
    lines += ["", "## Ablations (same model, modalities hidden at test time)", "",
              "| modalities | contact state | impact (bal.) | held identity | fusion score |",
              "|---|---:|---:|---:|---:|"]
    for k, v in ab.items():
        lines.append(f"| {k} | {v['contact_state_acc']:.3f} | {v['impact_balanced_acc']:.3f} | "
                     f"{v['held_identity_acc']:.3f} | {v['fused_score']:.3f} |")
    if variants:
        lines += ["", "## Variants", "", "| checkpoint | text backend | trained | command grounding "
                  "| held-out paraphrases |", "|---|---|---|---:|---:|",
                  f"| {name} | {config.get('model.text.backend') if config else ''} "
                  f"| {info['train_time_s'] / 60:.1f} min | {m['grounding_acc']:.3f} | "
                  f"{m.get('grounding_paraphrase_acc', float('nan')):.3f} |"]
        for name, (v_info, v_cfg, v_res) in variants.items():
            vm = v_res["metrics"]
            lines.append(f"| {name} | {v_cfg.get('model.text.backend')} | +{v_info['train_time_s'] / 60:.1f} min "
                         f"(text encoder only, from {v_cfg.get('train.init_from') or 'scratch'}) | "
                         f"{vm['grounding_acc']:.3f} | {vm.get('grounding_paraphrase_acc', float('nan')):.3f} |")
        lines += ["", "All other outputs of a text-only variant equal the base model's (its other "
                  "weights are copied and frozen)."]
    lines += ["", "## Limitations", ""] + [f"- {t}" for t in (impact_limitation(results), *LIMITATIONS)]
    if config:
        lines += ["", "## Config (saved inside the checkpoint)", "", "| parameter | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in config.items()]
    lines += ["", "## Reproduce", "", "```bash", reproduce.strip(), "```", ""]
    path.write_text("\n".join(lines))
    return path


# issue 14's targets on held-out cells inside the training range: metric -> (target, higher)
CELL_TARGETS = {"object_detection_recall": (0.97, True), "object_localisation_median_cm": (1.0, False),
                "shape_colour_acc": (0.95, True), "grounding_acc": (0.95, True)}


def write_cells_card(path: Path, info: dict, results: dict, name: str, reproduce: str,
                     gate_png: str | None = None, loss_png: str | None = None,
                     init_from: str = "omni_small.pt", script: str = "tools/train_cells.sh",
                     crop_m: tuple = ()) -> Path:
    """The card of a model trained on randomised cells: ``results`` from ``omni-ros eval
    --cells`` on held-out randomised cells (--data) and the fixed held-out cells; ``init_from``:
    the checkpoint training started from; ``reproduce``: the text of ``script``;
    ``crop_m``: the model's ``model.camera.workspace_crop_m`` (base frame, m), empty if off."""
    m, cells = results["metrics"], results["cells"]["cells"]
    ev = results.get("data", {})
    crop = ([f"Its camera window is the workspace crop: each camera's image is zoomed on the "
             f"projection of the base-frame box {list(crop_m)} m (x min, x max, y min, y max, "
             "z min, z max), so datasets for it are made with `omni-ros dataset --model-config`.", ""]
            if crop_m else [])
    lines = [f"# {Path(name).stem} - model card", "",
             f"{Path(init_from).name} fine-tuned for robot cells it has never seen (issue 14, "
             f"{script}): randomised training "
             "episodes ran in a cell of their own (camera mount +-15 cm / +-15 deg around the nominal "
             "one or over the shoulder, 45-75 deg lenses, 64-640 px images, lighting, colour "
             "shades, 3-8 cm objects, 1-10 objects, distractors) and most opened with staged "
             "impacts (objects dropped, set down hard, knocked over, slid); the hearing objective "
             "trains impact and material from the microphone alone.", "", *crop,
             "## Data", "",
             f"- Training: {info['train_samples']} samples of {info['train_episodes']} episodes "
             f"(seeds {ranges_text(info['train_seeds'])}), {info['epochs']} epochs, "
             f"{info['train_time_s'] / 60:.1f} min on 2 cores"
             + (f" (losses: [{loss_png}]({loss_png}))." if loss_png else "."),
             f"- Held-out randomised cells (`--data`): {results['samples']} samples of "
             f"{ev.get('episodes', '?')} episodes, seeds {ranges_text(ev.get('seeds', [])) or '?'}.",
             f"- Fixed held-out cells: {results['cells']['episodes']} episodes each, seeds "
             f"{results['cells']['seeds'][0]}-{results['cells']['seeds'][1]} (none used for "
             "training or for choosing anything).", "",
             "## Held-out cells, side by side", "",
             "| data | in training range | detection recall | localisation median [cm] | "
             "shape+colour | grounding |", "|---|---|---:|---:|---:|---:|"]
    rows = [("held-out randomised cells (--data)", True, m)]
    rows += [(n, c["in_range"], c["geometry_as_input"]) for n, c in cells.items()]
    for n, in_range, r in rows:
        lines.append(f"| {n} | {'yes' if in_range else '**no**'} | {r['object_detection_recall']:.3f} | "
                     f"{r['object_localisation_median_cm']:.2f} | {r['shape_colour_acc']:.3f} | "
                     f"{r['grounding_acc']:.3f} |")
    lines += ["", "## Targets", "", "| target | bar | worst in-range cell | |", "|---|---:|---:|---|"]
    for k, (bar, higher) in CELL_TARGETS.items():
        vals = [r[k] for _, in_range, r in rows if in_range]
        worst = min(vals) if higher else max(vals)
        lines.append(f"| {k} | {'>=' if higher else '<='} {bar} | {worst:.3f} | "
                     f"{verdict(worst, bar, higher)} |")
    mat = m.get("impact_material_audio_alone_acc", float("nan"))
    lines.append(f"| impact material from audio alone | >= 0.9 | {mat:.3f} | {verdict(mat, 0.9, True)} |")
    para = m.get("grounding_paraphrase_acc", float("nan"))
    lines.append(f"| held-out paraphrases grounded (via the command lexicon) | >= 0.9 | {para:.3f} | "
                 f"{verdict(para, 0.9, True)} |")
    lines += ["", "## Hearing", "",
              f"Impact material with every sensor: {m['impact_material_acc']:.3f}; from the "
              f"microphone alone: {mat:.3f}. Mean audio gate on frames with an impact "
              f"{m.get('audio_gate_at_impacts', float('nan')):.3f}, on the others "
              f"{m.get('audio_gate_elsewhere', float('nan')):.3f}."]
    if gate_png:
        lines += ["", f"![audio gate around impacts]({gate_png})"]
    lines += ["", "## Other metrics (held-out randomised cells)", "", "| metric | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in m.items() if not isinstance(v, dict)]
    lines += ["", "## Reproduce", "", "```bash", reproduce.strip(), "```", ""]
    path.write_text("\n".join(lines))
    return path


STUDENTS_HEADING = "## Students (omni-ros distill)"
THERMAL_HEADING = "### Thermal variant"


def put_section(card: Path, heading: str, body: str, before: str | None = None) -> Path:
    """Put ``heading`` + ``body`` into ``card``, replacing the section that starts with
    ``heading`` (up to the next heading of the same or a higher level) if there is one, else
    before the first line starting with ``before`` (else at the end)."""
    text = card.read_text()
    level = heading.split(" ", 1)[0]
    section = f"{heading}{body.rstrip()}\n\n"
    start = text.find(f"\n{heading}")
    if start >= 0:
        ends = [i for i in (text.find(f"\n{'#' * n} ", start + 1) for n in range(1, len(level) + 1))
                if i >= 0]
        end = min(ends) + 1 if ends else len(text)
        text = text[:start + 1] + section + text[end:]
    elif before and f"\n{before}" in text:
        at = text.find(f"\n{before}") + 1
        text = text[:at] + section + text[at:]
    else:
        text = text.rstrip() + "\n\n" + section
    card.write_text(text.rstrip() + "\n")
    return card


def add_students(card: Path, bench_json: Path) -> Path:
    """Put (or replace) the students section of ``card``: the table of ``omni-ros bench
    --suite distill`` (its JSON)."""
    from ..benchmarks.distill import markdown

    table = markdown(json.loads(Path(bench_json).read_text())).split("\n", 1)[1]
    return put_section(card, STUDENTS_HEADING, f"\n{table}\nReproduce: `omni-ros bench --suite "
                       "distill --json bench/distill.json` (hours on 2 cores), then `python -m "
                       "omni_ros.learning.model_card --students bench/distill.json "
                       "models/MODEL_CARD.md`.\n")


def thermal_section(name: str, info: dict, config: dict, results: dict, base: str,
                    base_sha256: str) -> str:
    """The card's section on the thermal variant ``name`` (training ``info``, flat ``config``,
    ``omni-ros eval`` ``results``), fine-tuned from ``base`` whose file now hashes to
    ``base_sha256`` (the card says whether the variant was fine-tuned from that file)."""
    from ..core.labels import COLD_C, HOT_C

    m, ab = results["metrics"], results["ablations"]
    ev = results.get("data", {})
    recorded = info.get("init_from_sha256")
    origin = (f"fine-tuned from this card's `{base}`" if recorded == base_sha256 else
              f"fine-tuned from an earlier `{base}` (sha256 {recorded[:12]}, not this card's): "
              "rerun the last lines of `tools/train_model.sh` (~45 min) to refit it"
              if recorded else f"fine-tuned from `{base}` before checkpoints recorded their "
              "base's hash - possibly an earlier one: rerun the last lines of "
              "`tools/train_model.sh` (~45 min) to refit it to this card's")
    def gates(g: dict) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in g.items() if v > 0 or k == "thermal")

    rows = [("all six", m, gates(m.get("mean_gates", {})))]
    for label, key in (("thermal dead", "without thermal"), ("thermal alone", "thermal alone"),
                       ("camera alone", "camera alone")):
        if key in ab:
            rows.append((label, ab[key], gates(ab[key].get("mean_gates", {}))))
    others = [v["held_temperature_acc"] for k, v in ab.items()
              if k.endswith(" alone") and k != "thermal alone" and "held_temperature_acc" in v]
    alone = ab.get("thermal alone", {}).get("held_temperature_acc", float("nan"))
    lines = ["", "",
             f"`{base}` + the thermal camera ({config.get('model.thermal.width')}×"
             f"{config.get('model.thermal.height')} radiometric) fused as a sixth modality and a "
             f"held-object temperature head (ambient / hot > {HOT_C:g} °C / cold < {COLD_C:g} °C), "
             f"{origin} (`config/train_thermal.yaml`: {info.get('epochs')} epochs, "
             f"{info.get('train_samples')} samples of {info.get('train_episodes')} scenes with "
             f"object temperatures, seeds {ranges_text(info.get('train_seeds', []))}; "
             f"{info['train_time_s'] / 60:.1f} min on 2 cores). Held-out: "
             f"{results.get('samples')} samples of seeds {ranges_text(ev.get('seeds', []))}, "
             "regenerated with temperatures (`eval_thermal.json`).", "",
             "| modalities at test time | contact | impact (bal.) | held identity | held object's "
             "temperature | mean gates of the present |", "|---|---:|---:|---:|---:|---|"]
    for label, r, g in rows:
        lines.append(f"| {label} | {r['contact_state_acc']:.3f} | {r['impact_balanced_acc']:.3f} "
                     f"| {r['held_identity_acc']:.3f} | {r['held_temperature_acc']:.3f} | {g} |")
    lines += ["", f"Every other sensor alone reaches at most {max(others, default=float('nan')):.3f}"
              f" on the held object's temperature; the thermal camera alone {alone:.3f}, all six "
              f"fused {m['held_temperature_acc']:.3f}. Objects with every sensor: localisation "
              f"{m['object_localisation_median_cm']:.2f} cm, recall "
              f"{m['object_detection_recall']:.3f}, shape+colour {m['shape_colour_acc']:.3f}, "
              f"grounding {m['grounding_acc']:.3f}. Finding *which* object is hot does not need "
              "this variant: the thermal modality's `annotate` hook labels the objects of any "
              "checkpoint (`bench/thermal.md`)."]
    return "\n".join(lines) + "\n"


def add_thermal(card: Path, checkpoint: str, eval_json: Path) -> Path:
    """Put (or replace) the thermal variant's section of ``card`` (before its limitations)."""
    from ..cli import checkpoint_arg
    from ..core.config import to_flat_dict
    from ..core.model.checkpoint import load_checkpoint, resolve
    from ..core.perception.text_cache import file_sha256

    _, cfg, info = load_checkpoint(checkpoint_arg(checkpoint))
    base = cfg.train.init_from or "scratch"
    sha = file_sha256(resolve(base)) if cfg.train.init_from else ""
    body = thermal_section(Path(checkpoint).name, info, to_flat_dict(cfg),
                           json.loads(Path(eval_json).read_text()), base, sha)
    return put_section(card, f"{THERMAL_HEADING} (`{Path(checkpoint).name}`, issue 12)", body,
                       before="## Limitations")


if __name__ == "__main__":
    import sys

    if sys.argv[1] == "--students":  # --students BENCH_JSON CARD
        add_students(Path(sys.argv[3]), Path(sys.argv[2]))
        sys.exit(0)
    if sys.argv[1] == "--thermal":  # --thermal CHECKPOINT EVAL_JSON CARD
        add_thermal(Path(sys.argv[4]), sys.argv[2], Path(sys.argv[3]))
        sys.exit(0)

    from ..cli import checkpoint_arg
    from ..core.model.checkpoint import load_checkpoint
    from ..core.config import to_flat_dict

    if sys.argv[1] == "--cells":  # --cells CHECKPOINT EVAL_JSON OUT [GATES_PNG [LOSS_PNG]] [--script SH]
        args = sys.argv[2:]
        script = (args.pop(args.index("--script") + 1) if "--script" in args[:-1]
                  else "tools/train_cells.sh")
        args = [a for a in args if a != "--script"]
        ckpt, eval_json, out = args[:3]
        _, cfg, info = load_checkpoint(checkpoint_arg(ckpt))
        pngs = [Path(p) for p in args[3:5]]  # linked by name: next to OUT
        write_cells_card(Path(out), info, json.loads(Path(eval_json).read_text()), Path(ckpt).name,
                         Path(script).read_text(),
                         *(p.name if p.exists() else None for p in pngs + [Path("-")] * (2 - len(pngs))),
                         init_from=cfg.train.init_from or "scratch", script=script,
                         crop_m=tuple(cfg.model.camera.workspace_crop_m))
        sys.exit(0)
    ckpt, eval_json, bench_json, out = sys.argv[1:5]
    _, cfg, info = load_checkpoint(checkpoint_arg(ckpt))
    variants = {}
    for v_ckpt, v_eval in zip(sys.argv[5::2], sys.argv[6::2]):  # optional: VARIANT.pt EVAL.json
        _, v_cfg, v_info = load_checkpoint(checkpoint_arg(v_ckpt))
        variants[Path(v_ckpt).name] = (v_info, to_flat_dict(v_cfg), json.loads(Path(v_eval).read_text()))
    info.setdefault("frame_stride", info.get("dataset_frame_stride", 1) * cfg.train.frame_stride)
    png = Path(ckpt).with_suffix(".loss.png")
    write_card(Path(out), info, json.loads(Path(eval_json).read_text()),
               json.loads(Path(bench_json).read_text()), Path("tools/train_model.sh").read_text(),
               png.name if png.exists() and png.parent == Path(out).parent else None,
               to_flat_dict(cfg), variants, Path(ckpt).name)
