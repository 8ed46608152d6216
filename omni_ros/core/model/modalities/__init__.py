"""Modality registry. A modality is one file in this folder that declares everything about it:
its sensor streams (topic, message type, frame, codec), its input window (history, pairing,
conversion of each reading into arrays), how old its input may be before it counts as absent,
its preprocessing (numpy batch -> tensors), its encoder (tensors -> feature vector) and its
config defaults. ``register`` adds it here; everything else reads it from ``REGISTRY``: the
model config, the dataset assembler, the live pipeline (async and sync), the perception node's
subscriptions, the training data loader and the stream table.

Adding a modality = one new file in this folder + its name in ``MODULES`` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .windows import Stream, Window

# The one line to edit when adding a modality (the order is the model's default modality order).
MODULES = ("camera", "lidar", "audio", "tactile", "force", "thermal", "text")


@dataclass(frozen=True)
class Modality:
    name: str
    config_cls: type
    encoder_cls: type            # nn.Module(cfg) -> forward(inputs dict) -> {"feature": (B, F), ...}
    preprocess: Callable         # (numpy batch dict, cfg) -> dict of tensors
    fused: bool = True           # sensor modality routed into the fused latent (text is a query)
    streams: tuple[Stream, ...] = ()          # what it reads from the robot (empty for text)
    window: Callable[[object], Window] | None = None   # cfg -> its input window
    max_age_s: float = 0.2       # default: older input at fusion time counts as absent [s]
    presence: str = ""           # stream whose dataset flag present_<key> marks it present
    annotate: Callable | None = None  # (objects, window arrays, cfg): adds what it senses to them

    @property
    def arrays(self) -> tuple[str, ...]:
        """Names of the dataset arrays its window produces (= its streams' keys)."""
        return tuple(s.key for s in self.streams)


REGISTRY: dict[str, Modality] = {}


def register(name: str, config_cls: type, preprocess: Callable, fused: bool = True,
             streams: tuple[Stream, ...] = (), window: Callable | None = None,
             max_age_s: float = 0.2, presence: str = "", annotate: Callable | None = None):
    """Class decorator for an encoder: registers the modality ``name``."""
    def wrap(encoder_cls):
        if name in REGISTRY:
            raise ValueError(f"modality {name!r} registered twice")
        if fused and (not streams or window is None):
            raise ValueError(f"sensor modality {name!r} needs its streams and a window")
        REGISTRY[name] = Modality(name, config_cls, encoder_cls, preprocess, fused, tuple(streams),
                                  window, max_age_s, presence or (streams[0].key if streams else ""),
                                  annotate)
        return encoder_cls
    return wrap


def load_all() -> dict[str, Modality]:
    """Import every modality file (in ``MODULES`` order) and return the registry."""
    for m in MODULES:
        importlib.import_module(f"{__name__}.{m}")
    return {m: REGISTRY[m] for m in MODULES}


def sensors() -> list[Modality]:
    """The fused sensor modalities, in ``MODULES`` order."""
    return [m for m in load_all().values() if m.fused]


def stream_owner() -> dict[str, str]:
    """Stream key -> the modality whose window reads it (CameraInfo streams too, for the
    windows that read them: their ``info`` keys)."""
    owner = {s.key: m.name for m in sensors() for s in m.streams}
    owner.update({k: m.name for m in sensors() for k in getattr(m.window, "info", ())})
    return owner


def mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def as_tensor(x, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype)
