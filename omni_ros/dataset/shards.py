"""Compressed shards of samples (``.npz``, one stacked array per field) and a manifest.

Layout of a dataset folder:
    manifest.json        schema, episodes, shards, generation stats and the sim config
    shard-<w>-<k>.npz    samples_per_shard samples each (the last one of a writer may be shorter)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.model.modalities.camera import CameraModalityConfig, window_view
from .assembler import COLOURS, MATERIALS, SHAPES

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class DatasetError(ValueError):
    """Dataset folders that cannot be used (as given) for what was asked; the message says why
    and what to do."""


class ShardWriter:
    """Collects samples and writes a shard every ``samples_per_shard``; of each episode's
    samples (one per camera frame) it keeps every ``frame_stride``-th, starting with the first."""

    def __init__(self, out_dir: Path, prefix: str, samples_per_shard: int = 256,
                 frame_stride: int = 1):
        self.out_dir, self.prefix, self.per_shard = Path(out_dir), prefix, samples_per_shard
        self.frame_stride = frame_stride
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.pending: list[dict] = []
        self.episodes_pending: list[int] = []
        self.shards: list[dict] = []
        self._episode, self._frames = None, 0  # the episode being written, its samples so far

    def add(self, sample: dict, episode: int) -> bool:
        """Queue ``sample`` of ``episode`` if the stride keeps it; whether it did."""
        if episode != self._episode:
            self._episode, self._frames = episode, 0
        self._frames += 1
        if (self._frames - 1) % self.frame_stride:
            return False
        self.pending.append(sample)
        self.episodes_pending.append(episode)
        if len(self.pending) >= self.per_shard:
            self.flush()
        return True

    def flush(self) -> None:
        if not self.pending:
            return
        name = f"{self.prefix}-{len(self.shards):04d}.npz"
        arrays = {k: np.stack([s[k] for s in self.pending]) for k in self.pending[0]}
        arrays["episode"] = np.asarray(self.episodes_pending, np.int32)
        np.savez_compressed(self.out_dir / name, **arrays)
        self.shards.append({"file": name, "samples": len(self.pending),
                            "bytes": (self.out_dir / name).stat().st_size})
        self.pending, self.episodes_pending = [], []


def write_manifest(out_dir: Path, shards: list[dict], episodes: list[dict], extra: dict) -> dict:
    manifest = {"format_version": FORMAT_VERSION,
                "schema": {"shapes": SHAPES, "colours": COLOURS, "materials": MATERIALS},
                "samples": sum(s["samples"] for s in shards),
                "shards": sorted(shards, key=lambda s: s["file"]),
                "episodes": sorted(episodes, key=lambda e: e["index"]), **extra}
    (Path(out_dir) / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def load_manifest(data_dir: Path) -> dict:
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {data_dir} a dataset made by "
                                "`omni-ros dataset`?")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{path}: format_version {manifest.get('format_version')} is not "
                           f"{FORMAT_VERSION}; regenerate the dataset")
    return manifest


def load_dataset(data_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Every sample of the dataset, concatenated in shard order, and the manifest."""
    manifest = load_manifest(data_dir)
    parts: dict[str, list] = {}
    for shard in manifest["shards"]:
        with np.load(Path(data_dir) / shard["file"]) as z:
            for k in z.files:
                parts.setdefault(k, []).append(z[k])
    return {k: np.concatenate(v) for k, v in parts.items()}, manifest


def camera_window(manifest: dict) -> dict:
    """The camera window a dataset's images were made by (``window_view`` of the model camera
    section it was made for; datasets without the record were all made for the defaults)."""
    return manifest.get("camera_window") or window_view(CameraModalityConfig())


def load_datasets(data_dirs) -> tuple[dict[str, np.ndarray], dict]:
    """Several dataset folders as one: samples concatenated, episode indices made unique, the
    manifests' episodes merged (their vocabularies must agree); ``source``: each sample's
    folder (its index in ``data_dirs``)."""
    dirs = [data_dirs] if isinstance(data_dirs, (str, Path)) else list(data_dirs)
    arrays, manifest = load_dataset(dirs[0])
    arrays["source"] = np.zeros(len(arrays["episode"]), np.int16)
    parts = {k: [v] for k, v in arrays.items()}
    episodes = list(manifest["episodes"])
    for d in dirs[1:]:
        more, m = load_dataset(d)
        more["source"] = np.full(len(more["episode"]), len(parts["source"]), np.int16)
        if m["schema"] != manifest["schema"]:
            raise DatasetError(f"{d}: vocabularies {m['schema']} differ from {dirs[0]}'s")
        if m.get("frame_stride", 1) != manifest.get("frame_stride", 1):
            raise DatasetError(f"{d}: recorded every {m.get('frame_stride', 1)}th frame, {dirs[0]} "
                               f"every {manifest.get('frame_stride', 1)}th; make them with one "
                               "stride (omni-ros dataset --frame-stride N, with --from-mcap too)")
        if camera_window(m) != camera_window(manifest):
            raise DatasetError(f"{d}: its camera images were made by the camera window "
                               f"{camera_window(m)}, {dirs[0]}'s by {camera_window(manifest)}; "
                               "make them with one model config (omni-ros dataset --model-config)")
        offset = int(max(np.max(parts["episode"][-1]) + 1, len(episodes)))
        more["episode"] = more["episode"] + offset
        episodes += [dict(e, index=e["index"] + offset) for e in m["episodes"]]
        n_before, n_more = sum(len(v) for v in parts["episode"]), len(more["episode"])
        for k in set(parts) | set(more):  # datasets recorded by different versions
            if k not in parts:
                parts[k] = [_missing(more[k], n_before)]
            parts[k].append(more[k] if k in more else _missing(parts[k][0], n_more))
    merged = dict(manifest, episodes=episodes, sources=[str(d) for d in dirs])
    return {k: np.concatenate(_same_slots(k, v)) for k, v in parts.items()}, merged


# Empty object slots (obj_valid False) read: -1 for class indices, NaN for temperatures, else 0.
SLOT_FILL = {"obj_shape": -1, "obj_colour": -1, "obj_material": -1, "obj_temperature": np.nan}


def _missing(like: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples of an array a dataset did not record (e.g. camera_K before cameras had a
    geometry): NaN for floats (unknown), else zeros (False: not present)."""
    fill = np.nan if np.issubdtype(like.dtype, np.floating) else 0
    return np.full((n, *like.shape[1:]), fill, like.dtype)


def _same_slots(key: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Per-object arrays (obj_*) padded with empty slots to the largest slot count."""
    if not key.startswith("obj_"):
        return arrays
    slots = max(a.shape[1] for a in arrays)
    return [a if a.shape[1] == slots else np.concatenate(
        [a, np.full((len(a), slots - a.shape[1], *a.shape[2:]), SLOT_FILL.get(key, 0), a.dtype)], 1)
        for a in arrays]


def seed_ranges(manifest: dict) -> list[list[int]]:
    """The manifest's episode seeds as contiguous [first, last] ranges."""
    seeds = sorted(e["seed"] for e in manifest["episodes"] if "seed" in e)
    ranges: list[list[int]] = []
    for s in seeds:
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1][1] = s
        else:
            ranges.append([s, s])
    return ranges
