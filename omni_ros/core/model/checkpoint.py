"""Checkpoints: weights + the full config tree + training info in one file; a compressed one
(``omni-ros compress``) also carries ONNX graphs (float or int8) that replace the torch parts
they were exported from (see :mod:`.runtime`).

Relative names resolve against the package's ``models/`` folder (the source checkout's, or
``share/omni_ros/models`` of an installed package), never the working directory; an existing
absolute path is used as is.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch

from ..config import ConfigError, from_flat_dict, to_flat_dict
from .omni import OmniModel
from .model_config import OmniConfig
from .runtime import PlacementConfig, place

FORMAT = "omni_ros.omni_model/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or incompatible; the message says which and why."""


def model_dirs() -> list[Path]:
    here = Path(__file__).resolve().parents[3] / "models"          # source / editable install
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    shares = [Path(p) / "share" / "omni_ros" / "models" for p in prefixes + [sys.prefix]]
    return [here] + shares


def resolve(path: str | Path) -> Path:
    """An absolute path as it is; a bare name (``omni_small.pt``) in the package's models/,
    never the working directory (a stray file there must not replace the shipped model); a
    relative path with a folder (``build/x.pt``) from the working directory, else models/."""
    p = Path(path)
    if p.is_absolute():
        if p.exists():
            return p
        raise CheckpointError(f"checkpoint {p} not found")
    if len(p.parts) > 1 and p.exists():
        return p.resolve()
    for d in model_dirs():
        if (d / p).exists():
            return d / p
    where = "the working directory nor in " if len(p.parts) > 1 else ""
    raise CheckpointError(f"checkpoint {str(p)!r} not found in {where}"
                          f"{[str(d) for d in model_dirs()]}")


def save_checkpoint(path: str | Path, model: OmniModel, cfg: OmniConfig, info: dict,
                    graphs: dict[str, dict] | None = None) -> Path:
    """Write ``model`` with its config and ``info``. ``graphs``: {submodule path: {"graph":
    ONNX bytes, "outputs": [names]}} that stand in for those submodules; their torch weights
    are left out."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    graphs = graphs or {}
    state = {k: v for k, v in model.state_dict().items()
             if not any(k.startswith(part + ".") for part in graphs)}
    payload = {"format": FORMAT, "config": to_flat_dict(cfg), "state_dict": state, "info": info}
    if graphs:  # bytes as uint8 tensors (pickled bytes would grow by half)
        payload["graphs"] = {part: {"graph": torch.frombuffer(bytearray(g["graph"]), dtype=torch.uint8),
                                    "outputs": list(g["outputs"])} for part, g in graphs.items()}
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
        torch.save(payload, f)
    os.chmod(f.name, 0o644)  # a temporary file is private; a checkpoint is not
    os.replace(f.name, path)
    return path


def _payload(p: Path) -> dict:
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"{p} is corrupt or not a checkpoint: {type(err).__name__}: "
                              f"{str(err).splitlines()[0][:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{p} is incompatible: format {got!r}, expected {FORMAT!r}")
    return payload


def stored_config(path: str | Path) -> tuple[dict, bool]:
    """(the flat config, whether it carries ONNX graphs, i.e. was compressed) of the checkpoint
    at ``path`` (a name resolves as in :func:`resolve`), without building its model."""
    payload = _payload(resolve(path))
    return dict(payload["config"]), bool(payload.get("graphs"))


def stored_info(path: str | Path) -> dict:
    """The training info saved with the checkpoint at ``path``, without building its model."""
    return dict(_payload(resolve(path)).get("info") or {})


def load_checkpoint(path: str | Path, placement: PlacementConfig | None = None
                    ) -> tuple[OmniModel, OmniConfig, dict]:
    """(model in eval mode, its config, training info). Each modality's encoder runs where
    ``placement`` says (default: the CPU); the ONNX graphs of a compressed checkpoint run on
    ONNX Runtime (:func:`.runtime.place`; ``model.placement_notes`` says what was done)."""
    p = resolve(path)
    payload = _payload(p)
    try:
        cfg = from_flat_dict(OmniConfig, payload["config"])
    except ConfigError as err:
        raise CheckpointError(f"{p} holds an invalid config: {err}") from None
    model = OmniModel(cfg.model)
    graphs = {part: {"graph": g["graph"].numpy().tobytes(), "outputs": g["outputs"]}
              for part, g in payload.get("graphs", {}).items()}
    try:
        missing, _ = model.load_state_dict(payload["state_dict"], strict=not graphs)
    except RuntimeError as err:  # missing / unexpected keys or shape mismatches
        raise CheckpointError(f"{p} does not fit this model: "
                              f"{str(err).splitlines()[1].strip()[:300]}") from None
    stray = [k for k in missing if not any(k.startswith(part + ".") for part in graphs)]
    if graphs and stray:
        raise CheckpointError(f"{p} does not fit this model: missing {stray[:5]}")
    model.eval()
    try:
        model.placement_notes = place(model, placement, graphs)
    except ImportError as err:
        raise CheckpointError(f"{p}: {err}") from None
    return model, cfg, payload.get("info", {})


def init_from_checkpoint(model: OmniModel, path: str | Path) -> list[str]:
    """Copy into ``model`` every tensor of the checkpoint at ``path`` whose name and shape match
    (to fine-tune part of a trained model, e.g. a new text backend); returns the names of the
    model's tensors left as they were."""
    state = _payload(resolve(path))["state_dict"]
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    return sorted(set(own) - set(fits))
