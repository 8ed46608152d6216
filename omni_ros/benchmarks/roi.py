"""Region of interest (issue 16, lever 5): what the camera window reads of a frame, whole frame
vs the workspace crop, at 96 x 96, 320 x 240 and 640 x 480, from the training camera's mount
and from over the shoulder (``omni-ros bench --suite roi``).

Whole frame: the window of a model without a workspace crop (``omni_cells.pt``) resamples the
centred box of the model's focal length. ROI: the window of ``omni_cells_crop.pt`` reads only
the projection of the object workspace (the base-frame box of its ``workspace_crop_m``)
through the camera's intrinsics and pose. Per frame: the pixels and bytes read (colour 3 B +
depth 4 B per pixel of the box inside the image), the zoom (the focal length the model sees
over its training camera's: above 1 the workspace gets more pixels), the window's time
(colour + depth resampled to 96 x 96, median, 1 thread) and the camera path (window +
preprocessing + camera encoder, batch 1) against the same at 96 x 96 whole frame. The
accuracy side (shape+colour at these sizes) is the cells bench's ``--size`` (README).
"""

from __future__ import annotations

import torch

from ..core.geometry import CameraGeometry
from ..core.model.checkpoint import load_checkpoint
from ..core.model.modalities import REGISTRY
from ..core.model.modalities.camera import CameraWindow
from .cells import CELLS, cell_config
from .model import _ms, _raw_example

SIZES = ((96, 96), (320, 240), (640, 480))
MOUNTS = ("training camera", "over the shoulder")
WINDOWS = {"whole frame": "omni_cells.pt", "workspace ROI": "omni_cells_crop.pt"}
SEED = 5000  # a held-out scene of the cells bench


def frame(mount: str, size: tuple[int, int]) -> dict:
    """One sim frame of ``mount`` (a cell of :data:`CELLS`) made ``size`` (width, height) px:
    colour, depth [m], the intrinsics and the mounting pose in the base frame."""
    from omni_ros_sim.scene import random_scene
    from omni_ros_sim.world import World

    cfg = cell_config({**CELLS[mount][1], "width": size[0], "height": size[1]})
    with World(random_scene(SEED), cfg, SEED) as world:
        color, depth = world.camera.read()
        intrinsics = world.camera.intrinsics
    return {"color": color, "depth": depth, "intrinsics": intrinsics,
            "pose": CameraGeometry.from_config(cfg.camera).pose}


def window_cost(camera_cfg, f: dict, repeat: int) -> dict:
    """What ``camera_cfg``'s window reads of frame ``f`` and how long it takes."""
    w = CameraWindow(camera_cfg)
    w.set_pose(f["pose"])
    w.convert("camera_info", f["intrinsics"])
    x0, y0, bw, bh = w.box
    height, width = f["depth"].shape
    inside = max(0, min(x0 + bw, width) - max(x0, 0)) * max(0, min(y0 + bh, height) - max(y0, 0))
    ms = _ms(lambda: (w.convert("color", f["color"]), w.convert("depth", f["depth"])), repeat)
    return {"box": [int(v) for v in w.box], "pixels_read": int(inside),
            "bytes_read": int(inside * (3 + 4)), "frame_bytes": int(width * height * (3 + 4)),
            "zoom": float(w.intrinsics.fy / w.focal), "window_ms": ms}


@torch.no_grad()
def run(repeat: int = 30) -> dict:
    """Every mount x size x window of the module doc, plus the model's fixed cost per camera
    frame (preprocessing + camera encoder at 96 x 96, the same for every size and window)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = {label: load_checkpoint(name) for label, name in WINDOWS.items()}
        model, cfg, _ = models["whole frame"]
        raw, wcfg = _raw_example(cfg.model), cfg.model.camera  # the model's 96 x 96 input
        pre = REGISTRY["camera"].preprocess
        x = pre(raw, wcfg)
        fixed = {"preprocess_ms": _ms(lambda: pre(raw, wcfg), repeat),
                 "encoder_ms": _ms(lambda: model.encoders["camera"](x), repeat)}
        rows = []
        for mount in MOUNTS:
            for size in SIZES:
                f = frame(mount, size)
                for label, (_, c, _) in models.items():
                    r = window_cost(c.model.camera, f, repeat)
                    r.update(mount=mount, size=list(size), window=label,
                             camera_path_ms=r["window_ms"] + sum(fixed.values()))
                    rows.append(r)
    finally:
        torch.set_num_threads(threads)
    base = {r["mount"]: r["camera_path_ms"] for r in rows
            if r["size"] == [96, 96] and r["window"] == "whole frame"}
    for r in rows:
        r["cost_vs_96_whole"] = r["camera_path_ms"] / base[r["mount"]]
    return {"rows": rows, "fixed": fixed, "windows": WINDOWS, "repeat": repeat}


def markdown(r: dict) -> str:
    fx = r["fixed"]
    lines = ["## Region of interest: whole frame vs the workspace crop", "",
             f"One held-out scene (seed {SEED}) per mount and size; windows of "
             + ", ".join(f"{k} `{v}`" for k, v in r["windows"].items())
             + f"; 1 thread, median of {r['repeat']} after 5 warm-up runs. Camera path = window "
             f"+ preprocessing ({fx['preprocess_ms']:.2f} ms) + camera encoder ({fx['encoder_ms']:.2f} ms), the "
             "last two the same for every size.", "",
             "| mount | camera px | window | pixels read (share of the frame) | KB read | zoom | "
             "window ms | camera path ms | cost vs 96 × 96 whole frame |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        share = x["bytes_read"] / x["frame_bytes"]
        lines.append(f"| {x['mount']} | {x['size'][0]} × {x['size'][1]} | {x['window']} | "
                     f"{x['pixels_read']} ({share:.0%}) | {x['bytes_read'] / 1e3:.0f} | "
                     f"{x['zoom']:.2f}× | {x['window_ms']:.2f} | {x['camera_path_ms']:.2f} | "
                     f"{x['cost_vs_96_whole']:.2f}× |")
    lines += ["", "Target (issue 16): perception cost at 640 × 480 input ≤ 1.3× its cost at "
              "96 × 96."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    res = run()
    print(markdown(res))
