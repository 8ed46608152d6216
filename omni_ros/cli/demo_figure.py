"""The demo's figure: camera frames with the perceived objects drawn on them, the router's gate
weights over time, and the wrist force and touch that the grasp produced."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.geometry import CameraGeometry
from ..core.model.model_config import ModelConfig


def _project(geo: CameraGeometry, xyz: np.ndarray) -> tuple[float, float] | None:
    """Pixel (u, v) of a base-frame point [m] in the static camera; None if behind it."""
    p = geo.rotation.T @ (np.asarray(xyz, float) - geo.position)
    if p[2] <= 0:
        return None
    k = geo.intrinsics
    return k.fx * p[0] / p[2] + k.cx, k.fy * p[1] / p[2] + k.cy


def plot_demo(op, rep, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    geo = CameraGeometry.from_config(ModelConfig().camera)
    series = op.series
    scenes = op.scenes
    t0 = scenes[0][0] if scenes else 0
    sec = lambda ns: (np.asarray(ns, float) - t0) / 1e9  # noqa: E731
    fig = plt.figure(figsize=(14, 8), layout="constrained")
    grid = fig.add_gridspec(2, 12)
    frames = series["color"]
    picks = np.linspace(0, len(frames) - 1, 4).astype(int) if frames else []
    scene_t = np.array([t for t, _ in scenes]) if scenes else np.zeros(0)
    for i, k in enumerate(picks):
        t, img = frames[k]
        ax = fig.add_subplot(grid[0, 3 * i:3 * i + 3])
        ax.imshow(img)
        if len(scene_t):
            s = scenes[int(np.clip(np.searchsorted(scene_t, t), 0, len(scenes) - 1))][1]
            for o in s.objects:
                uv = _project(geo, o.position)
                if uv is None:
                    continue
                mark = "r" if o.id == s.target_object_id else "w"
                ax.plot(*uv, "+", color=mark, ms=10, mew=2)
                ax.text(uv[0] + 2, uv[1] - 3, o.id or "?", color=mark, fontsize=6)
        ax.set_title(f"camera t={sec(t):.1f} s (+ perceived objects)", fontsize=9)
        ax.axis("off")
    if scenes:
        ax = fig.add_subplot(grid[1, 0:5])
        g = np.array([s.gate_weights for _, s in scenes])
        ax.stackplot(sec(scene_t), g.T, labels=scenes[0][1].modalities, alpha=0.85)
        ax.set(xlabel="sim time [s]", ylabel="gate weight", ylim=(0, 1),
               title="router gates per fused scene")
        ax.legend(fontsize=7, loc="upper right")
    if series["wrench"]:
        t, w = zip(*series["wrench"])
        ax = fig.add_subplot(grid[1, 5:9])
        w = np.array(w)
        ax.plot(sec(t), np.linalg.norm(w[:, :3], axis=1), label="|F| wrist")
        if series["tactile"]:
            tt, pads = zip(*series["tactile"])
            ax.plot(sec(tt), [sum(float(np.sum(v)) for v in p.values()) for p in pads],
                    label="touch (sum of pads)")
        ax.set(xlabel="sim time [s]", ylabel="N", title="force and touch")
        ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[1, 9:12])
    ax.axis("off")
    text = [f"heard: {h}" for h in rep.heard] + [f"grounded: {rep.grounded}",
            f"lifted {rep.lifted_m * 100:.1f} cm", f"placed {rep.place_error_m * 100:.1f} cm off"]
    text += [f"{k}: {v:.2f} s" for k, v in rep.stages.items()]
    ax.text(0, 1, "\n".join(text), va="top", fontsize=8, family="monospace")
    fig.suptitle(f"omni_ros demo: '{rep.target}' - {'SUCCESS' if rep.success else 'FAILED'}")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
