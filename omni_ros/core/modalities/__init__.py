"""Modality registry: one file per modality holds its config, its preprocessing (numpy batch ->
tensors) and its encoder (tensors -> feature vector); ``register`` adds it here once.

Adding a modality = one new file in this folder + one line in ``ModelConfig`` (its config field
and its name in ``modalities``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class Modality:
    name: str
    config_cls: type
    encoder_cls: type            # nn.Module(cfg) -> forward(inputs dict) -> (B, feature_dim)
    preprocess: Callable         # (numpy batch dict, cfg) -> dict of tensors
    fused: bool = True           # sensor modality routed into the fused latent (text is a query)


REGISTRY: dict[str, Modality] = {}
MODULES = ("camera", "lidar", "audio", "tactile", "force", "text")


def register(name: str, config_cls: type, preprocess: Callable, fused: bool = True):
    """Class decorator for an encoder: registers the modality ``name``."""
    def wrap(encoder_cls):
        if name in REGISTRY:
            raise ValueError(f"modality {name!r} registered twice")
        REGISTRY[name] = Modality(name, config_cls, encoder_cls, preprocess, fused)
        return encoder_cls
    return wrap


def load_all() -> dict[str, Modality]:
    for m in MODULES:
        importlib.import_module(f"{__name__}.{m}")
    return REGISTRY


def mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def as_tensor(x, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype)
