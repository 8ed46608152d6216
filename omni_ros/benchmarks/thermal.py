"""Thermal benchmark: finding the hot object, camera + thermal vs camera alone vs thermal
alone, on held-out sim scenes (seeds 5000+, never used for training or for choosing anything:
the hot band, > labels.HOT_C, is fixed by definition, not tuned).

Per scene the world settles for ``settle_s`` (robot at home, every sensor on), the shipped
model's async pipeline consumes every reading, and then:
  camera + thermal  the pipeline grounds "the hot one" (camera objects, each annotated with the
                    thermal camera's reading at its centre); right = the id of the true hot object
                    (nearest to it within MATCH_M), or no target when nothing is hot
  camera alone      colour and depth carry no temperature: the best a camera-only robot can do is
                    guess among the objects it sees (expected accuracy 1 / objects)
  thermal alone     the hottest pixel above the hot band, back-projected onto the plane of the
                    objects' centres: a position but no identity; right = within MATCH_M of it
"""

from __future__ import annotations

import time

import numpy as np

from omni_ros_sim.config import SimConfig
from omni_ros_sim.scene import random_scene
from omni_ros_sim.world import World

from ..core.geometry import CameraGeometry
from ..core.labels import HOT_C, temperature_label
from ..core.model.checkpoint import load_checkpoint
from ..core.model.modalities.thermal import celsius
from ..core.perception.pipeline import Perception

MATCH_M = 0.03          # a found object/position this close to the true hot object is right [m]
CENTRE_Z_M = 0.025      # height of the objects' centres above the table (4-5.5 cm objects) [m]


def thermal_only(image: np.ndarray, cfg) -> np.ndarray | None:
    """Base-frame xy of the hottest pixel above the hot band, None if none is that hot."""
    t = celsius(image)
    if not np.isfinite(t).any() or np.nanmax(t) <= HOT_C:
        return None
    v, u = np.unravel_index(np.nanargmax(t), t.shape)
    geo = CameraGeometry.from_config(cfg)
    k = geo.intrinsics
    ray = geo.rotation @ np.array([(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0])
    s = (CENTRE_Z_M - geo.position[2]) / ray[2]
    return (geo.position + s * ray)[:2]


def scene_result(seed: int, model, settle_s: float) -> dict:
    scene = random_scene(seed)
    hot = [o for o in scene.objects if temperature_label(o.temperature_c) == "hot"]
    pipe = Perception(model)
    with World(scene, SimConfig(), seed) as world:
        end = world.t_ns + int(settle_s * 1e9)
        thermal = None
        while world.t_ns < end:
            for r in world.step():
                pipe.push(r.key, r.stamp_ns, r.data)
                if r.key == "thermal":
                    thermal = r.data
        now = world.t_ns
        truth = {o.id: np.asarray(o.position[:2]) for o in world.ground_truth().objects}
    target = pipe.set_target("hot", None, now)
    seen = pipe.objects(now, True)
    out = {"seed": seed, "objects": len(scene.objects), "seen": len(seen), "has_hot": bool(hot)}
    if hot:
        want = truth[hot[0].id]
        found = next((o for o in seen if o.id == target), None)
        out["fused_right"] = bool(found is not None
                                  and np.linalg.norm(found.position[:2] - want) <= MATCH_M)
        out["camera_chance"] = 1.0 / max(len(seen), 1)
        xy = thermal_only(thermal, model.cfg.thermal)
        out["thermal_error_m"] = float(np.linalg.norm(xy - want)) if xy is not None else float("inf")
    else:
        out["fused_false_target"] = bool(target)
        out["thermal_false_hit"] = thermal_only(thermal, model.cfg.thermal) is not None
    return out


def run(scenes: int = 40, seed: int = 5000, checkpoint: str = "omni_small.pt",
        settle_s: float = 0.6) -> dict:
    model, _, _ = load_checkpoint(checkpoint)
    t0 = time.perf_counter()
    rows = [scene_result(s, model, settle_s) for s in range(seed, seed + scenes)]
    hot = [r for r in rows if r["has_hot"]]
    cold = [r for r in rows if not r["has_hot"]]
    err = np.array([r["thermal_error_m"] for r in hot])
    return {
        "checkpoint": checkpoint, "seeds": [seed, seed + scenes - 1],
        "scenes_with_hot": len(hot), "scenes_without": len(cold),
        "camera_thermal_acc": float(np.mean([r["fused_right"] for r in hot])) if hot else None,
        "camera_alone_acc": float(np.mean([r["camera_chance"] for r in hot])) if hot else None,
        "thermal_alone_acc": float(np.mean(err <= MATCH_M)) if hot else None,
        "thermal_alone_median_cm": float(np.median(err) * 100) if hot else None,
        "camera_thermal_false_target": float(np.mean([r["fused_false_target"] for r in cold])) if cold else None,
        "thermal_alone_false_hit": float(np.mean([r["thermal_false_hit"] for r in cold])) if cold else None,
        "wall_s": time.perf_counter() - t0, "rows": rows,
    }


def markdown(r: dict) -> str:
    if not r["scenes_with_hot"] or not r["scenes_without"]:
        return f"{r['scenes_with_hot']} scenes with a hot object, {r['scenes_without']} without: run more scenes\n"
    return "\n".join([
        f"Finding the hot object on held-out scenes (seeds {r['seeds'][0]}-{r['seeds'][1]}: "
        f"{r['scenes_with_hot']} with a hot object, {r['scenes_without']} without), checkpoint "
        f"`{r['checkpoint']}`; right = the true hot object, within {MATCH_M * 100:.0f} cm.", "",
        "| sensors | hot object found | identity | false target (no hot object) |",
        "|---|---:|---|---:|",
        f"| camera + thermal | {r['camera_thermal_acc']:.3f} | yes (colour, shape, id) | "
        f"{r['camera_thermal_false_target']:.3f} |",
        f"| camera alone | {r['camera_alone_acc']:.3f} (chance: 1 / objects seen) | yes | - |",
        f"| thermal alone | {r['thermal_alone_acc']:.3f} (median {r['thermal_alone_median_cm']:.1f} cm) "
        f"| no (a position) | {r['thermal_alone_false_hit']:.3f} |", ""])
