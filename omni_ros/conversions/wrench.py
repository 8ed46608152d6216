"""``geometry_msgs/WrenchStamped`` <-> (6,) [fx, fy, fz, tx, ty, tz] in newtons and newton-metres."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Vector3, Wrench, WrenchStamped

from .errors import require
from .time import make_header


def wrench_to_numpy(msg: WrenchStamped) -> np.ndarray:
    """Force [N] then torque [N*m], in ``msg.header.frame_id``; rejects NaN and inf."""
    f, t = msg.wrench.force, msg.wrench.torque
    out = np.array([f.x, f.y, f.z, t.x, t.y, t.z], dtype=np.float64)
    bad = [name for name, v in zip(("force.x", "force.y", "force.z", "torque.x", "torque.y",
                                    "torque.z"), out) if not np.isfinite(v)]
    require(not bad, "wrench", f"non-finite values in {', '.join(bad)}")
    return out


def numpy_to_wrench(wrench: np.ndarray, frame_id: str = "", stamp_ns: int = 0) -> WrenchStamped:
    """``WrenchStamped`` from (6,) [fx, fy, fz, tx, ty, tz]."""
    w = np.asarray(wrench, dtype=np.float64)
    require(w.shape == (6,), "wrench", f"must have shape (6,), got {w.shape}")
    require(bool(np.all(np.isfinite(w))), "wrench", "contains NaN or inf")
    return WrenchStamped(
        header=make_header(frame_id, stamp_ns),
        wrench=Wrench(force=Vector3(x=w[0], y=w[1], z=w[2]),
                      torque=Vector3(x=w[3], y=w[4], z=w[5])))
