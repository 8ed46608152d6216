"""Turns time-ordered sensor streams into synchronised multimodal samples with labels.

A sample is made at every camera frame and holds the freshest reading of every other stream
(never one from the future), short histories where a single reading says little (wrench,
audio), and the labels of that instant from ground truth. Input items are (key, stamp_ns,
payload) as ``omni_ros.streams.decode`` yields them, in the order they were produced (the sim's
step order, or an MCAP file's write order).

Shapes (O = max objects, R x C lidar, H x W camera):
  stamp_ns ()            int64   sim time of the camera frame
  color (H, W, 3)        uint8   depth (H, W) float32 [m], NaN = no return
  lidar (R, C, 4)        float32 x, y, z [m] in lidar_link, intensity; NaN = no return (a
                                 cloud of another layout is flattened, cut or NaN-padded)
  wrench (WRENCH_WINDOW, 6) float32 newest last [N, N*m]; zeros before the first reading
  tactile (2, rows, cols) float32 [N] left pad, right pad
  audio (AUDIO_WINDOW,)  int16   the newest samples
  joints (9,)            float32 arm [rad] and finger [m] positions
  present_<m> ()         bool    modality m (depth, lidar, tactile, joints, wrench, audio) had a
                                 reading no older than STALE_S; else its array is zeros / NaN
  labelled ()            bool    ground truth was available (sim); else every label is empty
  obj_* (O, ...)         labels per object slot, obj_valid marks filled slots
  in_contact, grasping ()  bool;  held (): slot of the held object, -1 if none
  impact (): bool, impact_material (): material index or -1, impact_impulse (): [N*s]
  target (): slot of the commanded object; place_xy (2,) [m]
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.spatial.transform import Rotation

from omni_ros_sim.scene import COLOURS as _COLOURS
from omni_ros_sim.scene import MATERIALS as _MATERIALS
from omni_ros_sim.scene import SHAPES

COLOURS = tuple(_COLOURS)
MATERIALS = tuple(_MATERIALS)
MAX_OBJECTS = 6
WRENCH_WINDOW = 12          # readings (0.1 s at 120 Hz)
AUDIO_WINDOW = 4000         # samples (0.25 s at 16 kHz)
PADS = ("panda_leftfinger_pad", "panda_rightfinger_pad")
STALE_S = 0.5               # a reading older than this at a camera frame counts as missing


class SampleAssembler:
    """Feed readings with ``push``; it returns a sample at every colour frame.

    Every modality but colour may be missing (a robot without tactile pads, a bag without
    ground truth, the first frames before a slower sensor's first reading): its ``present_*``
    flag is then False and its array is zeros (NaN for depth and lidar). A reading older than
    ``STALE_S`` counts as missing.
    """

    def __init__(self, lidar_shape=(16, 180), taxel_shape=(4, 4), n_joints=9):
        self.lidar_shape, self.taxel_shape, self.n_joints = lidar_shape, taxel_shape, n_joints
        self.latest: dict = {}          # key -> (stamp_ns, payload)
        self.wrench = deque([np.zeros(6, np.float32)] * WRENCH_WINDOW, maxlen=WRENCH_WINDOW)
        self.audio = np.zeros(AUDIO_WINDOW, np.int16)
        self.events: list = []
        self.task = None

    @classmethod
    def for_config(cls, cfg) -> "SampleAssembler":
        """Shapes from an omni_ros_sim SimConfig."""
        return cls((cfg.lidar.rings, cfg.lidar.columns), (cfg.tactile.rows, cfg.tactile.cols))

    def push(self, key: str, stamp_ns: int, payload) -> dict | None:
        """Feed one reading; returns a sample when ``key`` is a camera colour frame."""
        if key == "wrench":
            self.wrench.append(np.asarray(payload, np.float32))
        elif key == "audio":
            n = min(len(payload), AUDIO_WINDOW)
            self.audio = np.concatenate([self.audio[n:], payload[-n:]])
        elif key == "ground_truth":
            self.events += [e for e in payload.events if e.kind == "impact"]
        elif key == "task":
            self.task = payload
        elif key == "color":
            return self._sample(stamp_ns, payload)
        self.latest[key] = (stamp_ns, payload)
        return None

    def _fresh(self, key: str, now_ns: int):
        """The latest payload of ``key`` if it is at most STALE_S old, else None."""
        item = self.latest.get(key)
        if item is None or now_ns - item[0] > STALE_S * 1e9:
            return None
        return item[1]

    def _sample(self, stamp_ns: int, color: np.ndarray) -> dict:
        h, w = color.shape[:2]
        fresh = {k: self._fresh(k, stamp_ns) for k in ("depth", "lidar", "tactile", "joints",
                                                       "wrench", "audio", "ground_truth")}
        tactile = fresh["tactile"]
        sample = {
            "stamp_ns": np.int64(stamp_ns),
            "color": color,
            "depth": fresh["depth"] if fresh["depth"] is not None else np.full((h, w), np.nan, np.float32),
            "lidar": self._lidar_grid(fresh["lidar"]),
            "wrench": np.stack(self.wrench),
            "tactile": np.stack([tactile.get(p, np.zeros(self.taxel_shape, np.float32))
                                 if tactile is not None else np.zeros(self.taxel_shape, np.float32)
                                 for p in PADS]),
            "audio": self.audio.copy(),
            "joints": np.asarray(fresh["joints"]["position"], np.float32)
            if fresh["joints"] is not None else np.zeros(self.n_joints, np.float32),
        }
        for key in ("depth", "lidar", "tactile", "joints", "wrench", "audio"):
            sample[f"present_{key}"] = np.bool_(fresh[key] is not None)
        sample.update(self._labels(fresh["ground_truth"]))
        return sample

    def _lidar_grid(self, cloud) -> np.ndarray:
        """(rings, columns, 4); a cloud of another layout is flattened, then cut or NaN-padded."""
        grid = np.full((*self.lidar_shape, 4), np.nan, np.float32)
        if cloud is None:
            return grid
        if cloud.shape[:2] == self.lidar_shape:
            return cloud
        flat = cloud.reshape(-1, 4)[: grid.shape[0] * grid.shape[1]]
        grid.reshape(-1, 4)[: len(flat)] = flat
        return grid

    def _labels(self, gt) -> dict:
        out = {"labelled": np.bool_(gt is not None)}
        out.update(self._object_labels(gt))
        ids = [o.id for o in gt.objects] if gt is not None else []
        out["in_contact"] = np.bool_(gt is not None and gt.in_contact)
        out["grasping"] = np.bool_(gt is not None and gt.grasping)
        out["held"] = np.int8(ids.index(gt.held_object_id) if gt and gt.held_object_id in ids else -1)
        strongest = max(self.events, key=lambda e: e.magnitude, default=None)
        out["impact"] = np.bool_(strongest is not None)
        out["impact_impulse"] = np.float32(strongest.magnitude if strongest else 0.0)
        hit = next((o for o in (gt.objects if gt else []) if strongest and o.id == strongest.object_id),
                   None)
        out["impact_material"] = np.int8(MATERIALS.index(hit.material) if hit else -1)
        self.events = []
        labels = [f"{o.color} {o.shape}" for o in gt.objects] if gt is not None else []
        task = self.task
        out["target"] = np.int8(labels.index(task.target_description)
                                if task and task.target_description in labels else -1)
        out["place_xy"] = (np.asarray(task.point[:2], np.float32) if task and task.point is not None
                           else np.full(2, np.nan, np.float32))
        return out

    @staticmethod
    def _object_labels(gt) -> dict:
        o_n = MAX_OBJECTS
        out = {"obj_valid": np.zeros(o_n, bool), "obj_shape": np.full(o_n, -1, np.int8),
               "obj_colour": np.full(o_n, -1, np.int8), "obj_material": np.full(o_n, -1, np.int8),
               "obj_mass": np.zeros(o_n, np.float32), "obj_size": np.zeros((o_n, 3), np.float32),
               "obj_position": np.zeros((o_n, 3), np.float32),
               "obj_yaw": np.zeros(o_n, np.float32)}
        for i, o in enumerate(gt.objects[:o_n] if gt is not None else []):
            out["obj_valid"][i] = True
            out["obj_shape"][i] = SHAPES.index(o.shape)
            out["obj_colour"][i] = COLOURS.index(o.color)
            out["obj_material"][i] = MATERIALS.index(o.material)
            out["obj_mass"][i] = o.mass
            out["obj_size"][i] = o.size
            out["obj_position"][i] = o.position
            out["obj_yaw"][i] = Rotation.from_quat(o.orientation).as_euler("xyz")[2]
        return out
