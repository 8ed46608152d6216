"""The frames of the simulated cell (REP 103), ROS-free: the static sensor frames as transforms
(parent, child, translation [m], quaternion x, y, z, w) and the robot's URDF.

The base frame is ``panda_link0``, the sim's world origin (x forward, y left, z up). The arm's
links hang below it in the URDF the sim loads (:func:`robot_description`; on a ROS install
robot_state_publisher turns it and ``/joint_states`` into ``/tf``). Each sensor frame comes from
the one place the sim defines that sensor, so a changed config moves the frame with the sensor:

=================================  ==================  ===========================================
child                              parent              from
=================================  ==================  ===========================================
camera_link                        panda_link0         ``camera.eye`` looking at ``camera.target``
                                                       (up = +z, as the renderer's view matrix):
                                                       body frame, x forward, y left, z up
camera_color_optical_frame         camera_link         optical axes z forward, x right, y down
                                                       (colour, depth, CameraInfo)
thermal_link,                      panda_link0,        the same from ``thermal.eye`` /
thermal_optical_frame              thermal_link        ``thermal.target`` (if thermal.enabled)
lidar_link                         panda_link0         ``lidar.position``; axes parallel to the
                                                       base (sensors/lidar.py casts its rays so)
microphone_link                    camera_link         no offset: the sim's microphone has no
                                                       position (every sound reaches it alike),
                                                       so it is put on the camera head, like an
                                                       RGB-D camera's microphone array
panda_hand_ft                      panda_hand          no offset: PyBullet reports the wrist
                                                       wrench at the fixed joint HAND_JOINT in
                                                       the frame of its child link
panda_leftfinger_pad,              panda_leftfinger,   sensors/tactile.py's pad faces: +z out of
panda_rightfinger_pad              panda_rightfinger   the pad, +x towards the fingertip (row 0),
                                                       column 0 on +y (msg/TactilePad.msg)
=================================  ==================  ===========================================

A randomised episode (``randomize.enabled``, dataset generation) moves the camera per seed:
:func:`cell_frames` gives that episode's frames.
"""

from __future__ import annotations

import math
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from omni_ros.core.camera import BODY_TO_OPTICAL
from omni_ros.core.config import flatten_tree, from_flat_dict
from omni_ros.core.geometry import CameraGeometry

from .config import SimConfig
from .robot import HAND_JOINT, RIGHT_FINGER, low_poly_urdf
from .sensors.tactile import PAD_CENTRE_Z, PAD_SURFACE_Y, PADS

# The frame ids the sim bridge stamps (the modality files' streams; tests/test_frames.py checks
# that they agree).
BASE_FRAME = "panda_link0"
CAMERA_LINK = "camera_link"
CAMERA_OPTICAL = "camera_color_optical_frame"
THERMAL_LINK = "thermal_link"
THERMAL_OPTICAL = "thermal_optical_frame"
LIDAR_FRAME = "lidar_link"
MICROPHONE_FRAME = "microphone_link"
FT_FRAME = "panda_hand_ft"
DECIMALS = 9  # rounding of the parameter file's numbers (nm, 1e-9 quaternion units)


@dataclass(frozen=True)
class Transform:
    """Pose of frame ``child`` in frame ``parent``: translation ``xyz`` [m] and rotation
    ``quat`` (x, y, z, w; w >= 0)."""

    parent: str
    child: str
    xyz: tuple[float, float, float]
    quat: tuple[float, float, float, float]

    @property
    def rpy(self) -> tuple[float, float, float]:
        """The rotation as roll, pitch, yaw [rad] about the fixed x, y, z axes (URDF ``rpy``,
        static_transform_publisher's --roll --pitch --yaw). At pitch +-pi/2 (the tactile pads)
        roll and yaw are not unique: yaw is 0 then."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # scipy: "Gimbal lock detected"
            return tuple(float(v) for v in Rotation.from_quat(self.quat).as_euler("xyz"))

    def matrix(self) -> np.ndarray:
        """4x4 transform: points in ``child`` -> points in ``parent``."""
        m = np.eye(4)
        m[:3, :3] = Rotation.from_quat(self.quat).as_matrix()
        m[:3, 3] = self.xyz
        return m


def _transform(parent: str, child: str, xyz, rotation) -> Transform:
    q = Rotation.from_matrix(np.asarray(rotation, float)).as_quat()
    q = -q if q[3] < 0 else q
    return Transform(parent, child, tuple(float(v) for v in xyz), tuple(float(v) for v in q))


def _camera(cfg, link: str, optical: str) -> list[Transform]:
    """The body and optical frames of a look-at camera config (CameraViewConfig)."""
    geometry = CameraGeometry.from_config(cfg)
    body = geometry.rotation @ BODY_TO_OPTICAL.T   # optical = body @ BODY_TO_OPTICAL
    return [_transform(BASE_FRAME, link, geometry.position, body),
            _transform(link, optical, (0.0, 0.0, 0.0), BODY_TO_OPTICAL)]


def urdf_joints(urdf: str | None = None) -> list[dict]:
    """The joints of the robot's URDF in document order (PyBullet's joint indices): name, type,
    parent, child, xyz, rpy, axis."""
    root = ET.fromstring(urdf or robot_description())
    out = []
    for j in root.iter("joint"):
        origin = j.find("origin")
        axis = j.find("axis")
        out.append({
            "name": j.get("name"), "type": j.get("type"),
            "parent": j.find("parent").get("link"), "child": j.find("child").get("link"),
            "xyz": [float(v) for v in (origin.get("xyz", "0 0 0") if origin is not None
                                      else "0 0 0").split()],
            "rpy": [float(v) for v in (origin.get("rpy", "0 0 0") if origin is not None
                                      else "0 0 0").split()],
            "axis": [float(v) for v in (axis.get("xyz") if axis is not None else "1 0 0").split()],
        })
    return out


def _tactile_pads(joints: list[dict]) -> list[Transform]:
    """Each pad's frame in its finger link: the face the taxels sit on (sensors/tactile.py: left
    pad plane y = -PAD_SURFACE_Y with normal -y centred at z = PAD_CENTRE_Z, columns along +x,
    row 0 at the top in z; the right pad the same rotated by pi about z)."""
    # columns are the pad axes (x to the fingertip, y towards column 0, z out of the pad)
    left = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    turn = Rotation.from_euler("z", math.pi).as_matrix()
    out = []
    for name, link in PADS.items():
        xyz = np.array([0.0, -PAD_SURFACE_Y, PAD_CENTRE_Z])
        rot = left
        if link == RIGHT_FINGER:
            xyz, rot = turn @ xyz, turn @ left
        out.append(_transform(joints[link]["child"], name, xyz, rot))
    return out


def frame_tree(cfg: SimConfig | None = None) -> list[Transform]:
    """The static sensor frames of the sim under ``cfg`` (default: SimConfig()), parents first
    (see the module docstring). The arm's links are not here: they move (robot_state_publisher
    publishes them from the URDF and /joint_states)."""
    cfg = cfg or SimConfig()
    joints = urdf_joints()
    out = _camera(cfg.camera, CAMERA_LINK, CAMERA_OPTICAL)
    if cfg.thermal.enabled:
        out += _camera(cfg.thermal, THERMAL_LINK, THERMAL_OPTICAL)
    out.append(_transform(BASE_FRAME, LIDAR_FRAME, cfg.lidar.position, np.eye(3)))
    out.append(_transform(CAMERA_LINK, MICROPHONE_FRAME, (0.0, 0.0, 0.0), np.eye(3)))
    out.append(_transform(joints[HAND_JOINT]["child"], FT_FRAME, (0.0, 0.0, 0.0), np.eye(3)))
    out += _tactile_pads(joints)
    return out


def cell_frames(seed: int, cfg: SimConfig | None = None) -> list[Transform]:
    """The frames of episode ``seed``'s cell (``omni_ros_sim.tasks.random_cell``): with
    ``cfg.randomize.enabled`` its randomised camera mount, else :func:`frame_tree` of ``cfg``."""
    from .tasks import random_cell

    return frame_tree(random_cell(seed, cfg or SimConfig()).cfg)


def robot_description() -> str:
    """The URDF the sim loads (robot.low_poly_urdf), its meshes as ``file://`` URIs (what
    robot_state_publisher's ``robot_description`` and RViz's RobotModel resolve)."""
    text = Path(low_poly_urdf()).read_text()
    return re.sub(r'filename="(/[^"]+)"', r'filename="file://\1"', text)


def moving_joints(urdf: str | None = None) -> list[str]:
    """Names of the URDF's joints that move (not fixed): what /joint_states must name for
    robot_state_publisher to place every link."""
    return [j["name"] for j in urdf_joints(urdf) if j["type"] != "fixed"]


def sim_config_from_params(files: Iterable[str | Path], node: str = "sim_bridge") -> SimConfig:
    """The SimConfig the sim bridge runs with given ROS parameter files (``/sim_bridge:
    ros__parameters: sim: ...``; ``/**`` sections too), later files winning, as rcl applies
    them. Raises omni_ros.core.config.ConfigError naming a bad parameter."""
    values: dict = {}
    for path in files:
        tree = yaml.safe_load(Path(path).read_text()) or {}
        for key in ("/**", "/*", node, f"/{node}", f"/**/{node}"):
            body = tree.get(key) if isinstance(tree, dict) else None
            if isinstance(body, dict) and isinstance(body.get("ros__parameters"), dict):
                flat = flatten_tree(body["ros__parameters"])
                values.update({k[len("sim."):]: v for k, v in flat.items() if k.startswith("sim.")})
    return from_flat_dict(SimConfig, values)


def frames_document(transforms: list[Transform], source: str = "SimConfig()") -> dict:
    """The parameter file's content: base frame, the config it came from and one entry per
    transform (translation [m], rotation as quaternion x, y, z, w and as roll, pitch, yaw [rad])."""
    def r(values):
        return [round(float(v), DECIMALS) + 0.0 for v in values]  # + 0.0: no -0.0

    return {"base_frame": BASE_FRAME, "source": source,
            "transforms": [{"parent": t.parent, "child": t.child, "xyz": r(t.xyz),
                            "quaternion_xyzw": r(t.quat), "rpy": r(t.rpy)} for t in transforms]}


HEADER = """\
# Static frames of the simulated cell (REP 103; metres, radians; quaternions x, y, z, w).
# Generated by `omni-ros frames` from omni_ros_sim.frames.frame_tree; do not edit:
# tests/test_frames.py checks it equals the function's output for the default SimConfig.
# On a ROS install `ros2 launch omni_ros sim_demo.launch.py` publishes these on /tf_static and
# the arm's links via robot_state_publisher (panda_link0 -> panda_link1 ... panda_hand).
"""


def frames_yaml(transforms: list[Transform], source: str = "SimConfig()") -> str:
    """The parameter file text (HEADER, then :func:`frames_document` as YAML)."""
    body = yaml.safe_dump(frames_document(transforms, source), sort_keys=False,
                          default_flow_style=None, width=120)
    return HEADER + body


def frames_table(transforms: list[Transform]) -> str:
    """A markdown table of the transforms: parent, child, xyz [m], rpy [rad]."""
    rows = ["| parent | child | xyz [m] | rpy [rad] |", "|---|---|---|---|"]
    for t in transforms:
        xyz = ", ".join(f"{v:.4f}" for v in t.xyz)
        rpy = ", ".join(f"{v:.4f}" for v in t.rpy)
        rows.append(f"| {t.parent} | {t.child} | {xyz} | {rpy} |")
    return "\n".join(rows) + "\n"
