"""Warm cache of command text latents: the first command after start is grounded as fast as
the hundredth.

Every command the speech grammar or the typed parser produces names its object in canonical
words (``core.speech.commands.parse_command``: "red cube", "red", "cube"; a temperature is
split off before grounding), so the text latents grounding can ask for are a short, known list:
:func:`command_descriptions` (also the per-class prototypes, "<colour> <shape>"). At configure
they are encoded once in one batch - or read from a file stored beside the checkpoint, keyed
by the checkpoint's sha256 and the text backend, when one exists - and looked up afterwards. A
description outside the list (a user's own ``target_description``) is encoded on demand and
kept (at most ``MAX_EXTRA``). With the MiniLM text backend a warm cache read from its file
never loads the sentence model unless such a description arrives.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..labels import COLOURS, SHAPES

MAX_EXTRA = 256        # descriptions outside the list kept (the rest are encoded every time)
FORMAT = "omni_ros.text_latents/1"


def command_descriptions() -> list[str]:
    """Every object description a parsed command hands to grounding: colour + shape, colour
    alone, shape alone (canonical words of core.labels)."""
    return ([f"{c} {s}" for c in COLOURS for s in SHAPES] + list(COLOURS) + list(SHAPES))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dirs(checkpoint: Path) -> list[Path]:
    """Where a cache file may live: beside the checkpoint, else the user's cache folder
    ($XDG_CACHE_HOME or ~/.cache)/omni_ros/text_latents (an installed package's share/ is
    often read-only)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [checkpoint.parent, base / "omni_ros" / "text_latents"]


class TextLatents:
    """Text latents by description. ``encode(list of descriptions) -> (N, D) float32``."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], key: str = ""):
        self._encode, self.key = encode, key
        self.latents: dict[str, np.ndarray] = {}
        self.extra = 0
        self.hits = self.misses = 0
        self.source = "empty"  # "file <path>", "computed" or "empty"

    def warm(self, descriptions: list[str], checkpoint: Path | None = None) -> str:
        """Fill the cache with ``descriptions``: from the file for ``checkpoint`` when it holds
        them under this key, else encoded in one batch (and the file written, best effort).
        Returns where they came from."""
        for path in self._files(checkpoint):
            if self._load(path, descriptions):
                self.source = f"file {path}"
                return self.source
        latents = np.asarray(self._encode(list(descriptions)), np.float32)
        self.latents.update(zip(descriptions, latents))
        self.source = "computed"
        for path in self._files(checkpoint):
            if self._store(path, descriptions, latents):
                break
        return self.source

    def get(self, description: str) -> np.ndarray:
        hit = self.latents.get(description)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        latent = np.asarray(self._encode([description]), np.float32)[0]
        if self.extra < MAX_EXTRA:
            self.latents[description] = latent
            self.extra += 1
        return latent

    # --- the file -------------------------------------------------------------------------------
    def _files(self, checkpoint: Path | None) -> list[Path]:
        if checkpoint is None or not self.key:
            return []
        name = f"{checkpoint.name}.{self.key[:16]}.text_latents.npz"
        return [d / name for d in cache_dirs(checkpoint)]

    def _load(self, path: Path, descriptions: list[str]) -> bool:
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["format"]) != FORMAT or str(f["key"]) != self.key:
                    return False
                stored = dict(zip(f["descriptions"].tolist(), f["latents"]))
        except (OSError, KeyError, ValueError):   # absent, unreadable or damaged: recompute
            return False
        if not all(d in stored for d in descriptions):
            return False
        self.latents.update({d: stored[d].astype(np.float32) for d in descriptions})
        return True

    def _store(self, path: Path, descriptions: list[str], latents: np.ndarray) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
                np.savez(f, format=FORMAT, key=self.key, descriptions=np.array(descriptions),
                         latents=latents)
            os.chmod(f.name, 0o644)
            os.replace(f.name, path)
            return True
        except OSError:
            return False
