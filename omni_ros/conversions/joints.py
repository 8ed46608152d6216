"""``sensor_msgs/JointState`` <-> names and (n,) arrays: positions [rad or m], velocities
[rad/s or m/s], efforts [N*m or N]."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sensor_msgs.msg import JointState

from .errors import require
from .time import make_header


def joint_state_to_arrays(msg: JointState) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(names, positions, velocities, efforts); missing velocities/efforts are NaN."""
    names = list(msg.name)
    n = len(names)
    require(n > 0, "name", "is empty")
    require(len(set(names)) == n, "name", "has duplicates")
    out = []
    for field in ("position", "velocity", "effort"):
        values = np.asarray(getattr(msg, field), dtype=np.float64)
        require(len(values) in (0, n), field, f"has {len(values)} values for {n} joints")
        require(field != "position" or len(values) == n, field, "is missing")
        require(bool(np.all(np.isfinite(values))), field, "contains NaN or inf")
        out.append(values if len(values) else np.full(n, np.nan))
    return names, out[0], out[1], out[2]


def arrays_to_joint_state(names: Sequence[str], position, velocity=None, effort=None,
                          stamp_ns: int = 0) -> JointState:
    names = list(names)
    pos = np.asarray(position, dtype=np.float64)
    require(pos.shape == (len(names),), "position", f"shape {pos.shape} for {len(names)} names")
    msg = JointState(header=make_header("", stamp_ns), name=names, position=pos.tolist())
    if velocity is not None:
        msg.velocity = np.asarray(velocity, dtype=np.float64).tolist()
    if effort is not None:
        msg.effort = np.asarray(effort, dtype=np.float64).tolist()
    return msg
