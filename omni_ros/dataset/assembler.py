"""Turns time-ordered sensor streams into synchronised multimodal samples with labels.

A sample is made at every camera frame. Every registered sensor modality's input window (the
class its modality file declares, the same one the live pipeline encodes from) is read at that
instant: the freshest reading of each stream (never one from the future), or the window's
history where a single reading says little (wrench, audio). Labels are those of that instant,
from ground truth. Input items are (key, stamp_ns, payload) as ``omni_ros.streams.decode``
yields them, in the order they were produced (the sim's step order, or an MCAP file's write
order).

Arrays (O = max objects; the rest is what each modality file documents):
  stamp_ns ()            int64   sim time of the camera frame
  <stream> (...)         every sensor stream's array as its window reads it, e.g. color
                         (H, W, 3) uint8, depth (H, W) [m], lidar (R, C, 4), wrench (12, 6),
                         tactile (2, rows, cols), joints (9,), audio (4000,) int16, thermal
                         (60, 80) uint16 centi-kelvin; camera_K (3, 3) and camera_pose (6,):
                         the camera's geometry at that frame (NaN where unknown)
  present_<stream> ()    bool    the stream had a reading no older than STALE_S; else its
                                 array is the window's empty value (zeros / NaN)
  labelled ()            bool    ground truth was available (sim); else every label is empty
  obj_* (O, ...)         labels per object slot, obj_valid marks filled slots (obj_temperature:
                         surface temperature [deg C], NaN if unknown)
  in_contact, grasping ()  bool;  held (): slot of the held object, -1 if none
  impact (): bool, impact_material (): material index or -1, impact_impulse (): [N*s]: the
                         strongest impact of the last ``audio.window_s`` (what the audio input
                         still holds; the same whichever frames a dataset keeps)
  target (): slot of the commanded object; place_xy (2,) [m]
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from omni_ros_sim.scene import COLOURS as _COLOURS
from omni_ros_sim.scene import MATERIALS as _MATERIALS
from omni_ros_sim.scene import SHAPES

from ..core.geometry import CameraGeometry
from ..core.labels import MAX_OBJECTS
from ..core.model.modalities import sensors, stream_owner
from ..core.model.model_config import ModelConfig

COLOURS = tuple(_COLOURS)
MATERIALS = tuple(_MATERIALS)
STALE_S = 0.5               # a reading older than this at a camera frame counts as missing
SAMPLE_CLOCK = "color"      # a sample is made at every colour frame


class SampleAssembler:
    """Feed readings with ``push``; it returns a sample at every colour frame.

    Every stream but colour may be missing (a robot without tactile pads, a bag without
    ground truth, the first frames before a slower sensor's first reading): its ``present_*``
    flag is then False and its array the window's empty value. A reading older than
    ``STALE_S`` counts as missing. ``cfg``: the model config whose modality sections size the
    windows (default: the defaults, which match the simulated robot).
    """

    def __init__(self, cfg: ModelConfig | None = None):
        cfg = cfg or ModelConfig()
        self.windows = {m.name: m.window(getattr(cfg, m.name)) for m in sensors()}
        self.streams = {m.name: [s.key for s in m.streams] for m in sensors()}
        self.owner = stream_owner()
        self.events: list = []
        self.impact_window_ns = int(cfg.audio.window_s * 1e9)
        self.task = None
        self.ground_truth = None

    @classmethod
    def for_config(cls, sim_cfg, camera=None) -> "SampleAssembler":
        """Windows sized for an omni_ros_sim SimConfig's sensors (lidar layout, taxel grid,
        thermal image; camera images of any size are resized to the model's input by the
        camera window of ``camera``, a model's camera section, default the defaults) and
        placed at its camera's mount."""
        cfg = ModelConfig()
        if camera is not None:
            cfg.camera = camera
        cfg.lidar.rings, cfg.lidar.columns = sim_cfg.lidar.rings, sim_cfg.lidar.columns
        cfg.tactile.rows, cfg.tactile.cols = sim_cfg.tactile.rows, sim_cfg.tactile.cols
        cfg.thermal.width, cfg.thermal.height = sim_cfg.thermal.width, sim_cfg.thermal.height
        out = cls(cfg)
        out.windows["camera"].set_pose(CameraGeometry.from_config(sim_cfg.camera).pose)
        return out

    def push(self, key: str, stamp_ns: int, payload) -> dict | None:
        """Feed one reading; returns a sample when ``key`` is a camera colour frame."""
        if key in self.owner:
            self.windows[self.owner[key]].push(key, stamp_ns, payload)
        elif key == "ground_truth":
            self.events += [e for e in payload.events if e.kind == "impact"]
            self.ground_truth = (stamp_ns, payload)
        elif key == "task":
            self.task = payload
        return self._sample(stamp_ns) if key == SAMPLE_CLOCK else None

    def _sample(self, stamp_ns: int) -> dict:
        sample = {"stamp_ns": np.int64(stamp_ns)}
        self.events = [e for e in self.events if stamp_ns - e.stamp_ns <= self.impact_window_ns]
        for name, w in self.windows.items():
            sample.update(w.read(stamp_ns, STALE_S))
            for key in self.streams[name]:
                sample[f"present_{key}"] = np.bool_(w.fresh(key, stamp_ns, STALE_S))
        gt = self.ground_truth
        fresh_gt = gt[1] if gt is not None and stamp_ns - gt[0] <= STALE_S * 1e9 else None
        sample.update(self._labels(fresh_gt))
        return sample

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
               "obj_yaw": np.zeros(o_n, np.float32),
               "obj_temperature": np.full(o_n, np.nan, np.float32)}
        for i, o in enumerate(gt.objects[:o_n] if gt is not None else []):
            out["obj_valid"][i] = True
            out["obj_shape"][i] = SHAPES.index(o.shape)
            out["obj_colour"][i] = COLOURS.index(o.color)
            out["obj_material"][i] = MATERIALS.index(o.material)
            out["obj_mass"][i] = o.mass
            out["obj_size"][i] = o.size
            out["obj_position"][i] = o.position
            out["obj_yaw"][i] = Rotation.from_quat(o.orientation).as_euler("xyz")[2]
            out["obj_temperature"][i] = o.temperature_c
        return out
