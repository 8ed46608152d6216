"""``sensor_msgs/CameraInfo`` <-> :class:`omni_ros.core.camera.CameraIntrinsics`."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo

from ..core.camera import CameraIntrinsics
from .errors import require
from .time import make_header


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """Intrinsics from the K matrix of ``msg``; checks sizes and finite, positive focal lengths."""
    w, h = int(msg.width), int(msg.height)
    require(w > 0 and h > 0, "width/height", f"must both be > 0, got {w}x{h}")
    k = np.asarray(msg.k, dtype=np.float64)
    require(k.shape == (9,), "k", f"must hold 9 values, got {k.shape}")
    require(bool(np.all(np.isfinite(k))), "k", "contains NaN or inf")
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    require(fx > 0 and fy > 0, "k", f"focal lengths must be > 0, got fx={fx}, fy={fy}")
    d = tuple(float(x) for x in msg.d)
    require(all(np.isfinite(d)), "d", "contains NaN or inf")
    return CameraIntrinsics(width=w, height=h, fx=float(fx), fy=float(fy), cx=float(cx),
                            cy=float(cy), distortion_model=msg.distortion_model or "plumb_bob",
                            distortion=d)


def intrinsics_to_camera_info(intr: CameraIntrinsics, frame_id: str = "",
                              stamp_ns: int = 0) -> CameraInfo:
    """A ``CameraInfo`` for a monocular camera with identity rectification."""
    k = intr.K
    p = np.zeros((3, 4))
    p[:, :3] = k
    return CameraInfo(header=make_header(frame_id, stamp_ns), width=intr.width,
                      height=intr.height, distortion_model=intr.distortion_model,
                      d=list(intr.distortion), k=k.reshape(-1).tolist(),
                      r=np.eye(3).reshape(-1).tolist(), p=p.reshape(-1).tolist())
