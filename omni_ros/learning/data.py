"""Dataset shards -> model inputs, presence masks and labels.

Preprocessing of the cheap-to-store modalities (lidar, audio, tactile, force) is done once and
cached; camera images are converted per batch. Per-pixel object labels (class, centre offset,
size, yaw) come from the depth image and the ground-truth objects: a pixel belongs to an object
when its 3-D point lies within 6 mm of the object's surface.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.geometry import CameraGeometry, signed_distance
from ..core.labels import temperature_label
from ..core.model.modalities import REGISTRY, load_all
from ..core.model.modalities.camera import camera_geometry, window_view
from ..core.model.omni import COLOURS, MATERIALS, SHAPES, object_class
from ..core.model.model_config import ModelConfig
from ..core.speech.commands import parse_command
from ..core.speech.families import held_out_command
from ..dataset.shards import DatasetError, camera_window, load_datasets

SURFACE_TOL_M = 0.006
SYNONYMS = {"cube": ("cube", "block", "box"), "cylinder": ("cylinder", "can", "tube"),
            "sphere": ("sphere", "ball", "ball")}
PICK_VERBS = ("pick up the", "grab the", "take the", "lift the", "get the", "pick the")
def command_for(rng: np.random.Generator, shape: str, colour: str, unique_colour: bool,
                unique_shape: bool) -> str:
    """A command that names the object (colour + shape, or just one when that is unique)."""
    noun = SYNONYMS[shape][rng.integers(3)]
    verb = PICK_VERBS[rng.integers(len(PICK_VERBS))]
    forms = [f"{verb} {colour} {noun}", f"{verb} {noun} that is {colour}"]
    if unique_colour:
        forms.append(f"{verb} {colour} one")
    if unique_shape:
        forms.append(f"{verb} {noun}")
    text = forms[rng.integers(len(forms))]
    return text + (" please" if rng.random() < 0.2 else "")


def held_temperature(a: dict, rows, hk, grasping) -> np.ndarray:
    """Class of the held object's temperature (0 ambient, 1 hot, 2 cold; -1 not grasping or
    unknown, e.g. a dataset recorded before objects had temperatures)."""
    if "obj_temperature" not in a:
        return np.full(len(rows), -1, np.int64)
    t = a["obj_temperature"][rows, hk]
    cls = np.array([{"": 0, "hot": 1, "cold": 2}[temperature_label(x)] for x in t], np.int64)
    return np.where(grasping & np.isfinite(t), cls, -1)


def yaw_of(quat_yaw: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(4 * quat_yaw), np.sin(4 * quat_yaw)], -1)


class ShardData:
    """All samples of a dataset folder, ready for the model."""

    def __init__(self, data_dir: Path | list[Path], cfg: ModelConfig, frame_stride: int = 1, seed: int = 0,
                 progress: bool = True, paraphrases: bool = False):
        load_all()
        arrays, manifest = load_datasets(data_dir)
        self.manifest = manifest
        schema = manifest["schema"]
        if (tuple(schema["shapes"]), tuple(schema["colours"]), tuple(schema["materials"])) != \
                (SHAPES, COLOURS, MATERIALS):
            raise DatasetError(f"{data_dir}: the dataset's vocabularies {schema} differ from the "
                               "model's")
        made, want = camera_window(manifest), window_view(cfg.camera)
        if made != want:
            raise DatasetError(f"{data_dir}: its camera images were made by the camera window "
                               f"{made}, but the model's is {want}; make the dataset for this "
                               "model (omni-ros dataset --model-config with its config)")
        keep = self._stride_mask(arrays["episode"], frame_stride)
        self.a = {k: v[keep] for k, v in arrays.items()}
        self.n = int(keep.sum())
        self.cfg = cfg
        self.names = list(cfg.modalities)
        self.rng = np.random.default_rng(seed)
        self.paraphrase_rng = np.random.default_rng(seed + 1) if paraphrases else None
        for name in self.names:
            missing = [k for k in REGISTRY[name].arrays if k not in self.a]
            if missing:
                raise DatasetError(f"{data_dir}: no {missing} arrays for modality {name!r} (a "
                                   "dataset recorded without that sensor); drop it from "
                                   "model.modalities")
        self.cache: dict[str, dict] = {}
        for name in self.names:
            enc = REGISTRY[name].encoder_cls
            if getattr(enc, "cacheable", False):
                self.cache[name] = self._preprocess_all(name, progress)
        self.present = self._presence()
        self.labels = self._labels(progress)

    def geometry_of(self, i: int) -> CameraGeometry:
        """The camera geometry of sample ``i``: recorded with it (camera_K, camera_pose), or
        the model's configured view where it was not (datasets recorded before it was)."""
        keys = ("camera_K", "camera_pose", "depth")
        return camera_geometry({k: self.a[k][i] for k in keys if k in self.a}, self.cfg.camera)

    @staticmethod
    def _stride_mask(episodes: np.ndarray, stride: int) -> np.ndarray:
        idx = np.zeros(len(episodes), int)
        for e in np.unique(episodes):
            where = np.flatnonzero(episodes == e)
            idx[where] = np.arange(len(where))
        return idx % stride == 0

    def _preprocess_all(self, name: str, progress: bool, chunk: int = 512) -> dict:
        spec = REGISTRY[name]
        parts: dict[str, list] = {}
        for s in tqdm(range(0, self.n, chunk), desc=f"preprocess {name}", disable=not progress,
                      leave=False):
            batch = {k: v[s:s + chunk] for k, v in self.a.items()}
            for k, t in spec.preprocess(batch, getattr(self.cfg, name)).items():
                parts.setdefault(k, []).append(t)
        return {k: torch.cat(v) for k, v in parts.items()}

    def _presence(self) -> torch.Tensor:
        cols = []
        for name in self.names:
            key = f"present_{REGISTRY[name].presence}"
            cols.append(self.a[key] if key in self.a else np.ones(self.n, bool))
        return torch.as_tensor(np.stack(cols, 1))

    def _labels(self, progress: bool) -> dict:
        a, n = self.a, self.n
        pts = np.stack([self.geometry_of(i).points_base(a["depth"][i], stride=2)
                        for i in range(n)])  # (N, h, w, 3)
        h, w = pts.shape[1:3]
        slot = np.full((n, h, w), -1, np.int8)
        best = np.full((n, h, w), SURFACE_TOL_M, np.float32)
        for i in tqdm(range(n), desc="pixel labels", disable=not progress, leave=False):
            flat = pts[i].reshape(-1, 3)
            finite = np.isfinite(flat).all(1)
            for k in np.flatnonzero(a["obj_valid"][i]):
                shape = SHAPES[a["obj_shape"][i, k]]
                yaw = float(a["obj_yaw"][i, k])
                orn = [0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)]
                d = np.full(len(flat), np.inf, np.float32)
                d[finite] = signed_distance(flat[finite], shape, a["obj_size"][i, k],
                                            a["obj_position"][i, k], orn)
                d = d.reshape(h, w)
                closer = d < best[i]
                slot[i][closer] = k
                best[i][closer] = d[closer]
        cls = np.zeros((n, h, w), np.int64)
        offset = np.zeros((n, h, w, 3), np.float32)
        size = np.zeros((n, h, w, 3), np.float32)
        yaw = np.zeros((n, h, w, 2), np.float32)
        is_cube = np.zeros((n, h, w), bool)
        for k in range(a["obj_valid"].shape[1]):
            m = slot == k
            idx = np.nonzero(m)
            s_idx, c_idx = a["obj_shape"][idx[0], k], a["obj_colour"][idx[0], k]
            cls[m] = object_class(s_idx.astype(int), c_idx.astype(int))
            offset[m] = a["obj_position"][idx[0], k] - pts[m]
            size[m] = a["obj_size"][idx[0], k]
            yaw[m] = yaw_of(a["obj_yaw"][idx[0], k])
            is_cube[m] = s_idx == SHAPES.index("cube")
        held = a["held"].astype(int)
        rows = np.arange(n)
        hk = np.maximum(held, 0)
        grasping = a["grasping"] & (held >= 0)
        # One command per sample naming a random visible object.
        target = np.full(n, -1, int)
        text, paraphrased = [], []
        for i in range(n):
            visible = [k for k in np.flatnonzero(a["obj_valid"][i]) if (slot[i] == k).sum() >= 3]
            if not visible:
                text.append("")
                paraphrased.append("")
                continue
            k = int(self.rng.choice(visible))
            target[i] = k
            shapes = [int(a["obj_shape"][i, j]) for j in np.flatnonzero(a["obj_valid"][i])]
            colours = [int(a["obj_colour"][i, j]) for j in np.flatnonzero(a["obj_valid"][i])]
            s, c = int(a["obj_shape"][i, k]), int(a["obj_colour"][i, k])
            unique = (colours.count(c) == 1, shapes.count(s) == 1)
            text.append(command_for(self.rng, SHAPES[s], COLOURS[c], *unique))
            if self.paraphrase_rng is not None:
                paraphrased.append(held_out_command(self.paraphrase_rng, SHAPES[s], COLOURS[c]))
        text_inputs = REGISTRY["text"].preprocess({"text": text}, self.cfg.text)
        extra = {}
        if self.paraphrase_rng is not None:
            # as served: the command parser (with its lexicon) turns the words into the canonical
            # description perception grounds; a command it refuses grounds nothing
            parsed = [parse_command(t) if t else None for t in paraphrased]
            ok = [p is not None and p.intent == "pick" for p in parsed]
            desc = [p.target_description if o else "" for p, o in zip(parsed, ok)]
            extra = {"text_paraphrase": REGISTRY["text"].preprocess({"text": desc}, self.cfg.text),
                     "text_paraphrase_ok": torch.as_tensor(ok), "text_paraphrase_raw": paraphrased}
        return {
            "slot": torch.as_tensor(slot.astype(np.int64)), "class": torch.as_tensor(cls),
            "offset": torch.as_tensor(offset), "size": torch.as_tensor(size),
            "yaw": torch.as_tensor(yaw), "is_cube": torch.as_tensor(is_cube),
            "contact": torch.as_tensor(np.stack([a["in_contact"], a["grasping"]], 1).astype(np.float32)),
            "impact": torch.as_tensor(a["impact"].astype(np.float32)),
            "impact_material": torch.as_tensor(a["impact_material"].astype(np.int64)),
            "grasping": torch.as_tensor(grasping),
            "held": torch.as_tensor(held),
            "held_shape": torch.as_tensor(a["obj_shape"][rows, hk].astype(np.int64)),
            "held_width": torch.as_tensor(a["obj_size"][rows, hk, 0]),
            "held_mass": torch.as_tensor(a["obj_mass"][rows, hk]),
            "held_temperature": torch.as_tensor(held_temperature(a, rows, hk, grasping)),
            "target": torch.as_tensor(target), "text": text_inputs, "text_raw": text, **extra,
        }

    def inputs(self, idx: np.ndarray, cfg: ModelConfig | None = None) -> dict:
        """Model inputs of samples ``idx``: this data's modalities, or those of ``cfg`` (a
        subset, e.g. a student's; a modality configured unlike this data's is preprocessed
        with ``cfg``'s settings)."""
        out = {}
        for name in (self.names if cfg is None else cfg.modalities):
            if name in self.cache and (cfg is None or getattr(cfg, name) == getattr(self.cfg, name)):
                out[name] = {k: v[idx] for k, v in self.cache[name].items()}
            elif cfg is not None:
                batch = {k: self.a[k][idx] for k in REGISTRY[name].arrays}
                out[name] = REGISTRY[name].preprocess(batch, getattr(cfg, name))
            else:
                batch = {k: self.a[k][idx] for k in REGISTRY[name].arrays}
                out[name] = REGISTRY[name].preprocess(batch, getattr(self.cfg, name))
        return out

    def batch_labels(self, idx: np.ndarray) -> dict:
        lab = self.labels
        out = {k: v[idx] for k, v in lab.items() if isinstance(v, torch.Tensor)}
        for key in ("text", "text_paraphrase"):
            if key in lab:
                out[key] = {k: v[idx] for k, v in lab[key].items()}
        return out
