"""``omni-ros eval``: metrics of a checkpoint on held-out shards, with per-modality ablations
(each modality alone, each removed) and, given a second checkpoint, gated fusion vs
concatenation."""

from __future__ import annotations

import numpy as np
import torch

from ..core.model.heads import object_latents
from ..core.model.omni import COLOURS, MATERIALS, SHAPES
from ..core.perception.class_vote import ClassVote
from ..core.perception.grounding import ground
from ..core.perception.pipeline import PipelineConfig
from ..core.perception.objects import extract_objects
from ..core.manipulation.targets import grasp_target
from ..core.types import ObjectEstimate
from .data import ShardData
from .objectives import TOUCH, slot_masks, touch_query

MATCH_RADIUS_M = 0.03
# Apparent object width bins [model-input px] for shape+colour by size: 2 x the square root of
# the object's area in the half-resolution label map.
SIZE_BINS_PX = (4.0, 6.0, 8.0)
WIDTH_SIGMA_M = 0.004
MASS_SIGMA_KG = 0.03


@torch.no_grad()
def run_model(model, data: ShardData, present: torch.Tensor, batch: int = 64,
              objects: bool = False) -> dict:
    """Outputs for every sample. With ``objects``, also the perceived objects of each sample
    (``preds``: a list per sample, placed with the sample's camera geometry), extracted batch by
    batch: the per-pixel head outputs are never kept for the whole set (they were ~6 MB a
    sample)."""
    keep = ("contact_logits", "impact_logit", "impact_material_logits", "held_shape_logits",
            "held_width", "held_mass", "fused", "gates", "present")
    out: dict[str, list] = {}
    preds: list = []
    for s in range(0, data.n, batch):
        idx = np.arange(s, min(s + batch, data.n))
        o = model(data.inputs(idx), present[idx])
        for k in keep + ("held_temperature_logits",):
            if k in o:
                out.setdefault(k, []).append(o[k])
        out.setdefault("touch", []).append(touch_query(model, o))
        lab = data.batch_labels(idx)
        if "objects" in o:
            out.setdefault("gt_object_latents", []).append(
                object_latents(o["objects"]["embed"], slot_masks(lab["slot"])))
            if objects:
                preds += [extract_objects({k: v[j] for k, v in o["objects"].items()},
                                          data.a["depth"][i], data.geometry_of(i))
                          for j, i in enumerate(idx)]
        for key in ("text", "text_paraphrase"):
            if key in lab:
                out.setdefault(key, []).append(model.encode_text(lab[key]))
        if "text_paraphrase_ok" in lab:
            out.setdefault("text_paraphrase_ok", []).append(lab["text_paraphrase_ok"])
    merged = {k: torch.cat(v) for k, v in out.items()}
    if objects:
        merged["preds"] = preds
    return merged


def state_metrics(out: dict, lab: dict) -> dict:
    contact = (torch.sigmoid(out["contact_logits"]) > 0.5).float()
    both = (contact == lab["contact"]).all(1).float().mean().item()
    imp = (torch.sigmoid(out["impact_logit"]) > 0.5)
    truth = lab["impact"] > 0.5
    tpr = (imp & truth).sum().item() / max(truth.sum().item(), 1)
    tnr = (~imp & ~truth).sum().item() / max((~truth).sum().item(), 1)
    mat = out["impact_material_logits"][truth].argmax(1) == lab["impact_material"][truth]
    return {"contact_state_acc": both, "impact_balanced_acc": 0.5 * (tpr + tnr),
            "impact_material_acc": mat.float().mean().item() if truth.any() else float("nan")}


def held_identity(out: dict, lab: dict, data: ShardData) -> float:
    """Which known object is held, from the held head (shape, width, mass) alone."""
    g = (lab["grasping"] & (lab["held"] >= 0)).numpy()
    if not g.any():
        return float("nan")
    logp = torch.log_softmax(out["held_shape_logits"], 1).numpy()
    w, m = out["held_width"].numpy(), out["held_mass"].numpy()
    a = data.a
    correct = 0
    for i in np.flatnonzero(g):
        valid = np.flatnonzero(a["obj_valid"][i])
        score = [logp[i, a["obj_shape"][i, k]]
                 - (w[i] - a["obj_size"][i, k, 0]) ** 2 / (2 * WIDTH_SIGMA_M ** 2)
                 - (m[i] - a["obj_mass"][i, k]) ** 2 / (2 * MASS_SIGMA_KG ** 2) for k in valid]
        correct += int(valid[int(np.argmax(score))] == lab["held"][i].item())
    return correct / int(g.sum())


def fused_score(m: dict) -> float:
    """One number for the tasks that need fusion: mean of contact state, impact (balanced) and
    held-object identity accuracies."""
    return float(np.nanmean([m["contact_state_acc"], m["impact_balanced_acc"], m["held_identity_acc"]]))


def true_object(a: dict, i: int, k: int) -> ObjectEstimate:
    """Ground truth of object ``k`` in sample ``i`` (for its grasp target)."""
    yaw = float(a["obj_yaw"][i, k])
    return ObjectEstimate(id=str(k), shape=SHAPES[a["obj_shape"][i, k]], color=COLOURS[a["obj_colour"][i, k]],
                          position=a["obj_position"][i, k], size=a["obj_size"][i, k],
                          orientation=[0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])


def grasp_errors(pred: ObjectEstimate, truth: ObjectEstimate) -> tuple[float, float, float]:
    """(position [m], yaw [rad], width [m]) error of the grasp target planned from ``pred``."""
    p, t = grasp_target(pred), grasp_target(truth)
    dyaw = (p.yaw - t.yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # a grasp is 90-degree symmetric
    return float(np.linalg.norm(p.position - t.position)), abs(float(dyaw)), abs(p.width - t.width)


def sightings(preds: list, data: ShardData, lab: dict):
    """Every visible object of every sample (at least 3 label pixels): (sample, slot, its area
    in the half-resolution label map [px], true (shape, colour), the nearest perceived object
    of ``preds[sample]`` within MATCH_RADIUS_M or None)."""
    a = data.a
    for i in range(data.n):
        slot = lab["slot"][i].numpy()
        for k in np.flatnonzero(a["obj_valid"][i]):
            area = int((slot == k).sum())
            if area < 3:
                continue
            gt = a["obj_position"][i, k]
            near = min(preds[i], key=lambda p: np.linalg.norm(p.position - gt), default=None)
            if near is not None and np.linalg.norm(near.position - gt) >= MATCH_RADIUS_M:
                near = None
            yield i, k, area, (SHAPES[a["obj_shape"][i, k]], COLOURS[a["obj_colour"][i, k]]), near


def object_metrics(out: dict, data: ShardData, lab: dict, rng: np.random.Generator) -> dict:
    """Detection, localisation, classes, grasp targets and grounding of the perceived objects
    (``out`` from :func:`run_model` with ``objects``)."""
    a = data.a
    errors, visible, class_ok, detected = [], 0, 0, 0
    classed = []  # per detected object: (apparent width [px], true shape, perceived shape,
    #               colour right, episode, slot); shapes as SHAPES indices, -1 for another
    grasp = []  # (position, yaw, width) errors of the commanded object's grasp before grasping
    for i, k, area, name, near in sightings(out["preds"], data, lab):
        visible += 1
        gt = a["obj_position"][i, k]
        same = [p for p in out["preds"][i] if (p.shape, p.color) == name]
        if same:
            errors.append(min(np.linalg.norm(p.position - gt) for p in same))
        if near is None:
            continue
        detected += 1
        class_ok += int((near.shape, near.color) == name)
        seen = SHAPES.index(near.shape) if near.shape in SHAPES else -1
        classed.append((2 * np.sqrt(area), a["obj_shape"][i, k], seen, near.color == name[1],
                        a["episode"][i], k))
        if k == int(lab["target"][i]) and not bool(lab["grasping"][i]):
            grasp.append(grasp_errors(near, true_object(a, i, k)) + (name[0] == "cube",))
    ground_text = ground_point = ground_total = ground_seen = ground_para = 0
    for i in range(data.n):
        preds = out["preds"][i]
        t = int(lab["target"][i])
        if t >= 0 and preds:
            ground_total += 1
            q = out["text"][i].numpy()
            gt = a["obj_position"][i, t]
            point = gt + rng.normal(0, 0.01, 3)

            def right(j):  # the chosen detection is the commanded physical object
                return np.linalg.norm(preds[j].position - gt) < MATCH_RADIUS_M
            ground_seen += int(any(right(j) for j in range(len(preds))))
            ground_text += int(right(ground(preds, q)))
            if "text_paraphrase" in out:
                ground_para += int(bool(out["text_paraphrase_ok"][i])
                                   and right(ground(preds, out["text_paraphrase"][i].numpy())))
            ground_point += int(right(ground(preds, q, point)))
    err = np.array(errors)
    g = np.array(grasp, float).reshape(-1, 4)
    cube = g[:, 3] > 0
    return {"grasp_target_error_cm": float(np.median(g[:, 0]) * 100) if len(g) else float("nan"),
            "grasp_yaw_error_deg_cubes": float(np.degrees(np.median(g[cube, 1]))) if cube.any() else float("nan"),
            "grasp_width_error_mm": float(np.median(g[:, 2]) * 1000) if len(g) else float("nan"),
            "object_localisation_median_cm": float(np.median(err) * 100) if len(err) else float("nan"),
            "object_localisation_p90_cm": float(np.percentile(err, 90) * 100) if len(err) else float("nan"),
            "object_detection_recall": detected / max(visible, 1),
            "shape_colour_acc": class_ok / max(detected, 1),
            "shape_colour_acc_of_all_visible": class_ok / max(visible, 1),
            "grounding_acc": ground_text / max(ground_total, 1),
            "grounding_with_point_acc": ground_point / max(ground_total, 1),
            "grounding_target_detected": ground_seen / max(ground_total, 1),
            "grounding_acc_when_detected": ground_text / max(ground_seen, 1),
            **class_breakdown(np.array(classed, float).reshape(-1, 6)),
            **({"grounding_paraphrase_acc": ground_para / max(ground_total, 1)}
               if "text_paraphrase" in out else {})}


def class_vote(preds: list, data: ShardData, window_s: float) -> list:
    """The perceived objects of every sample relabelled as perception's ClassVote does live:
    each episode's samples in stamp order, with the evidence of the samples before it (only
    those kept with the data's frame stride: fewer sightings than the live camera gives)."""
    a = data.a
    out = list(preds)
    vote, episode = None, None
    for i in np.lexsort((a["stamp_ns"], a["episode"])):
        if a["episode"][i] != episode:
            vote, episode = ClassVote(window_s), a["episode"][i]
        out[i] = vote(preds[i], int(a["stamp_ns"][i]))
    return out


def class_vote_metrics(out: dict, data: ShardData, lab: dict) -> dict:
    """Shape+colour with the objects relabelled by the class vote of the perception node's
    default ``pipeline.class_vote_s``. (Grounding here scores the objects' latents, which the
    vote leaves as they are; the node's grounding also checks the perceived shape and colour.)"""
    voted = class_vote(out["preds"], data, PipelineConfig().class_vote_s)
    right = [(near.shape, near.color) == name
             for _, _, _, name, near in sightings(voted, data, lab) if near is not None]
    return {"shape_colour_acc_class_vote": float(np.mean(right)) if right else float("nan")}


def class_breakdown(classed: np.ndarray) -> dict:
    """What the shape+colour errors of the detected objects are. ``classed``: a row per
    sighting (apparent width [model-input px], true and perceived shape as SHAPES indices,
    colour right, episode, object slot). Returns the share of sightings with the shape wrong and
    with the colour wrong; which shape was taken for which; the share of shape errors on objects
    whose shape is wrong in most of their sightings (a view the model reads wrong every frame,
    not noise that more frames would average out); and shape+colour accuracy and sightings per
    apparent width bin (SIZE_BINS_PX)."""
    width, true, seen, colour, episode, slot = classed.T
    shape = true == seen
    edges = (0.0, *SIZE_BINS_PX, np.inf)
    names = [f"<{SIZE_BINS_PX[0]:g} px"] \
        + [f"{a:g}-{b:g} px" for a, b in zip(SIZE_BINS_PX, SIZE_BINS_PX[1:])] \
        + [f">={SIZE_BINS_PX[-1]:g} px"]
    bins = [(n, (width >= a) & (width < b)) for n, a, b in zip(names, edges, edges[1:])]
    right = shape & (colour > 0)
    _, obj = np.unique(episode * 1000 + slot, return_inverse=True)  # one index per object
    mostly_wrong = (np.bincount(obj, weights=~shape) / np.bincount(obj))[obj] > 0.5 \
        if len(width) else np.zeros(0, bool)
    confusions: dict[str, int] = {}
    for t, s in zip(true[~shape].astype(int), seen[~shape].astype(int)):
        key = f"{SHAPES[t]} as {SHAPES[s] if s >= 0 else 'other'}"
        confusions[key] = confusions.get(key, 0) + 1
    mean = (lambda m: float(np.mean(m))) if len(width) else (lambda m: float("nan"))
    return {"shape_wrong_of_detected": mean(~shape),
            "colour_wrong_of_detected": mean(colour == 0),
            "shape_confusions": dict(sorted(confusions.items(), key=lambda kv: -kv[1])),
            "shape_errors_on_mostly_wrong_objects": (float(np.mean(mostly_wrong[~shape]))
                                                     if (~shape).any() else float("nan")),
            "shape_colour_acc_by_width": {n: float(right[m].mean()) for n, m in bins if m.any()},
            "detected_by_width": {n: int(m.sum()) for n, m in bins}}


def retrieval_r1(out: dict, lab: dict) -> float:
    """Touch (tactile + force) latent -> the held object among the camera's visible objects."""
    r = (lab["grasping"] & (lab["held"] >= 0))
    visible = slot_masks(lab["slot"]).sum((2, 3)) >= 3
    rows = torch.arange(len(r))
    r = r & visible[rows, lab["held"].clamp(min=0)]
    if not r.any():
        return float("nan")
    sims = torch.einsum("bd,bkd->bk", out["touch"], out["gt_object_latents"]).masked_fill(~visible, -1e4)
    return (sims[r].argmax(1) == lab["held"][r]).float().mean().item()


def evaluate(model, data: ShardData, concat_model=None, seed: int = 0,
             ablations: bool = True) -> dict:
    """Every metric of the model card on ``data``; ``ablations``: also each modality alone and
    removed (the slow part), the best single modality and audio-alone figures."""
    names = model.names
    lab = data.batch_labels(np.arange(data.n))
    full = data.present.clone()

    def task_metrics(mdl, present, objects=False):
        o = run_model(mdl, data, present, objects=objects)
        m = state_metrics(o, lab)
        m["held_identity_acc"] = held_identity(o, lab, data)
        m["fused_score"] = fused_score(m)
        known = lab["held_temperature"] >= 0
        if "held_temperature_logits" in o and known.any():
            m["held_temperature_acc"] = float((o["held_temperature_logits"][known].argmax(1)
                                               == lab["held_temperature"][known]).float().mean())
        m["mean_gates"] = {n: float(o["gates"][present[:, i], i].mean()) if present[:, i].any()
                           else 0.0 for i, n in enumerate(names)}
        return m, o

    metrics, out = task_metrics(model, full, objects=True)
    if "camera" in names:  # (a student without a camera perceives no objects)
        metrics.update(object_metrics(out, data, lab, np.random.default_rng(seed)))
        metrics.update(class_vote_metrics(out, data, lab))
        if any(n in names for n in TOUCH):
            metrics["retrieval_touch_to_camera_r1"] = retrieval_r1(out, lab)
        no_cam = full.clone()
        no_cam[:, names.index("camera")] = False
        if no_cam.any():
            held_wo_cam, _ = task_metrics(model, no_cam)
            metrics["held_identity_without_camera_acc"] = held_wo_cam["held_identity_acc"]
    results = {}
    for i, n in enumerate(names if ablations else ()):
        alone = torch.zeros_like(full)
        alone[:, i] = full[:, i]
        removed = full.clone()
        removed[:, i] = False
        results[f"{n} alone"] = task_metrics(model, alone)[0]
        if len(names) > 1:
            results[f"without {n}"] = task_metrics(model, removed)[0]
    if ablations:
        metrics["best_single_modality_score"] = max(results[f"{n} alone"]["fused_score"]
                                                    for n in names)
    if concat_model is not None:
        metrics["concat_score"] = task_metrics(concat_model, full)[0]["fused_score"]
    gates = out["gates"][full.all(1)]
    metrics["mean_gates_all_present"] = {n: float(gates[:, i].mean()) for i, n in enumerate(names)}
    if "audio" in names:
        if ablations:
            metrics["impact_material_audio_alone_acc"] = results["audio alone"]["impact_material_acc"]
        a = names.index("audio")
        hit, ok = lab["impact"] > 0.5, full[:, a]
        metrics["audio_gate_at_impacts"] = float(out["gates"][hit & ok, a].mean()) \
            if (hit & ok).any() else float("nan")
        metrics["audio_gate_elsewhere"] = float(out["gates"][~hit & ok, a].mean()) \
            if (~hit & ok).any() else float("nan")
    return {"metrics": metrics, "ablations": results, "samples": data.n,
            "impact_samples": int((lab["impact"] > 0.5).sum())}


def gate_plot(model, data: ShardData, path, modality: str = "audio"):
    """Plot ``modality``'s gate over time in the episode of ``data`` with the most impacts, with
    the impacts (and their material) marked; returns ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lab = data.batch_labels(np.arange(data.n))
    ep = np.asarray(data.a["episode"])
    hits = lab["impact"].numpy() > 0.5
    best = max(np.unique(ep), key=lambda e: hits[ep == e].sum())
    idx = np.flatnonzero(ep == best)
    with torch.no_grad():
        gates = model(data.inputs(idx), data.present[idx])["gates"]
    i = model.names.index(modality)
    t = (np.asarray(data.a["stamp_ns"])[idx] - data.a["stamp_ns"][idx[0]]) / 1e9
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t, gates[:, i].numpy(), label=f"{modality} gate")
    for k in np.flatnonzero(hits[idx]):
        m = int(lab["impact_material"][idx[k]])
        ax.axvline(t[k], color="tab:red", alpha=0.4)
        ax.text(t[k], 1.0, MATERIALS[m] if m >= 0 else "", rotation=90, fontsize=7, va="top")
    ax.set(xlabel="time in the episode [s]", ylabel="gate", ylim=(0, 1.05),
           title=f"{modality} gate around impacts (red lines), held-out episode {int(best)}")
    ax.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
