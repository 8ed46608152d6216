"""``omni_ros_msgs/TactileArray`` <-> {pad frame id: (rows, cols) normal forces [N]}."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from omni_ros_msgs.msg import TactileArray, TactilePad

from .buffers import f32, from_typed_array, to_typed_array
from .errors import require
from .time import make_header


def tactile_to_dict(msg: TactileArray) -> dict[str, np.ndarray]:
    """Each pad's forces as a float32 (rows, cols) array, keyed by the pad's frame id."""
    pads: dict[str, np.ndarray] = {}
    for i, pad in enumerate(msg.pads):
        where = f"pads[{i}]"
        rows, cols = int(pad.rows), int(pad.cols)
        require(rows >= 1 and cols >= 1, f"{where}.rows/cols", f"must be >= 1, got {rows}x{cols}")
        require(pad.frame_id != "", f"{where}.frame_id", "is empty")
        require(pad.frame_id not in pads, f"{where}.frame_id", f"{pad.frame_id!r} appears twice")
        require(np.isfinite(pad.taxel_pitch) and pad.taxel_pitch > 0, f"{where}.taxel_pitch",
                f"must be a finite length > 0 m, got {pad.taxel_pitch}")
        forces = from_typed_array(pad.forces, np.float32)
        require(forces.size == rows * cols, f"{where}.forces",
                f"has {forces.size} values, expected rows*cols = {rows}*{cols} = {rows * cols}")
        require(bool(np.all(np.isfinite(forces))), f"{where}.forces", "contains NaN or inf")
        pads[pad.frame_id] = forces.reshape(rows, cols)
    return pads


def dict_to_tactile(pads: Mapping[str, np.ndarray], taxel_pitch: float = 0.005,
                    frame_id: str = "", stamp_ns: int = 0) -> TactileArray:
    """A ``TactileArray`` from (rows, cols) force grids [N]; ``taxel_pitch`` in metres."""
    require(np.isfinite(taxel_pitch) and taxel_pitch > 0, "taxel_pitch",
            f"must be a finite length > 0 m, got {taxel_pitch}")
    out = []
    for name, grid in pads.items():
        grid = np.asarray(grid, dtype=np.float32)
        require(grid.ndim == 2 and grid.size > 0, f"pads[{name!r}]",
                f"must be a non-empty (rows, cols) array, got shape {grid.shape}")
        require(bool(np.all(np.isfinite(grid))), f"pads[{name!r}]", "contains NaN or inf")
        pad = TactilePad(frame_id=name, rows=grid.shape[0], cols=grid.shape[1],
                         taxel_pitch=f32(taxel_pitch))
        pad.forces = to_typed_array(grid, "f")
        out.append(pad)
    return TactileArray(header=make_header(frame_id, stamp_ns), pads=out)
