"""Validated configuration dataclasses: the one source for ROS parameters, CLI options,
training configs and the config saved inside checkpoints.

Declare fields with :func:`param`, which records a description and the allowed values; nested
dataclasses form a tree whose flat names are dotted (``camera.rate_hz``), as ROS parameters are.

    @dataclass
    class CameraConfig:
        rate_hz: float = param(15.0, "camera frame rate [Hz]", min=1, max=240)
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which, why, and what is allowed."""


def param(default: Any, help: str, *, min: float | None = None, max: float | None = None,
          choices: typing.Sequence | None = None, runtime: bool = False) -> Any:
    """A dataclass field with a description and allowed values (inclusive ``min``/``max``).

    ``runtime``: safe to change while the node runs (``ros2 param set``; see
    :func:`apply_changes`); the others are read-only, a change needs a restart."""
    meta = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices else None,
            "runtime": bool(runtime)}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def allowed_text(f: dataclasses.Field) -> str:
    """What values field ``f`` admits, in words ("" if anything of its type)."""
    m = f.metadata
    if m.get("choices"):
        return "one of " + ", ".join(repr(c) for c in m["choices"])
    lo, hi = m.get("min"), m.get("max")
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}]"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return ""


def _is_config(tp) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def flat_fields(cls, prefix: str = "") -> list[tuple[str, dataclasses.Field, type]]:
    """(dotted name, field, type) for every leaf field of the config tree rooted at ``cls``."""
    out = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_config(tp):
            out.extend(flat_fields(tp, f"{prefix}{f.name}."))
        else:
            out.append((f"{prefix}{f.name}", f, tp))
    return out


def _coerce(name: str, value: Any, tp: type) -> Any:
    """``value`` as ``tp`` (bool, int, float, str or a tuple/list of those) or ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (item,) = set(typing.get_args(tp)) - {Ellipsis} or {str}
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"parameter '{name}' = {value!r}: must be a list")
        return origin(_coerce(name, v, item) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"parameter '{name}' = {value!r}: must be of type {tp.__name__}")


def _check(name: str, value: Any, f: dataclasses.Field) -> None:
    m = f.metadata
    if not m:
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        bad = False
        if m.get("choices") is not None:
            bad = v not in m["choices"]
        elif isinstance(v, (int, float)):
            bad = (isinstance(v, float) and not math.isfinite(v)) \
                or (m.get("min") is not None and v < m["min"]) \
                or (m.get("max") is not None and v > m["max"])
        if bad:
            raise ConfigError(f"parameter '{name}' = {value!r}: must be {allowed_text(f) or 'finite'} "
                              f"({m.get('help', '')})")


def validate(cfg) -> Any:
    """Check every leaf of ``cfg`` against its type and allowed values, then the cross-field
    rules of every node that defines ``check()`` (raising ConfigError); return ``cfg``."""
    for name, f, tp in flat_fields(type(cfg)):
        value = get_flat(cfg, name)
        _check(name, _coerce(name, value, tp), f)
    _run_checks(cfg)
    return cfg


def _run_checks(cfg) -> None:
    for f in dataclasses.fields(cfg):
        child = getattr(cfg, f.name)
        if dataclasses.is_dataclass(child):
            _run_checks(child)
    if hasattr(cfg, "check"):
        cfg.check()


def runtime_names(cls) -> list[str]:
    """Dotted names of the leaves of config ``cls`` marked ``runtime`` (settable while running)."""
    return [name for name, f, _ in flat_fields(cls) if f.metadata.get("runtime")]


def apply_changes(cfg, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Set leaves of the live config ``cfg`` in place from ``changes`` {dotted name: value}, all
    or none, and return {dotted name: new value}.

    Every name must be a leaf marked ``runtime``; each value is coerced and checked as
    :func:`from_flat_dict` does, then the cross-field rules (``check()``) run on a copy of the
    whole config with every change in. Any failure raises ConfigError (saying what is allowed)
    and leaves ``cfg`` as it was. Objects holding ``cfg`` or one of its sub-configs see the new
    values at once."""
    leaves = {name: (f, tp) for name, f, tp in flat_fields(type(cfg))}
    trial = copy.deepcopy(cfg)
    coerced: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in leaves:
            raise ConfigError(f"unknown parameter '{name}'")
        f, tp = leaves[name]
        if not f.metadata.get("runtime"):
            live = ", ".join(runtime_names(type(cfg))) or "none"
            raise ConfigError(f"parameter '{name}' is read-only: a change needs a restart "
                              f"(settable while running: {live})")
        value = _coerce(name, value, tp)
        _check(name, value, f)
        _set_flat(trial, name, value)
        coerced[name] = value
    _run_checks(trial)
    for name, value in coerced.items():
        _set_flat(cfg, name, value)
    return coerced


def _set_flat(cfg, name: str, value: Any) -> None:
    *path, leaf = name.split(".")
    for part in path:
        cfg = getattr(cfg, part)
    setattr(cfg, leaf, value)


def get_flat(cfg, name: str) -> Any:
    for part in name.split("."):
        cfg = getattr(cfg, part)
    return cfg


def to_flat_dict(cfg) -> dict[str, Any]:
    """{dotted name: value} of every leaf."""
    return {name: get_flat(cfg, name) for name, _, _ in flat_fields(type(cfg))}


def flatten_tree(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings (as in ROS parameter YAML) -> {dotted name: value}."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(flatten_tree(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def from_flat_dict(cls, values: Mapping[str, Any]):
    """A validated ``cls`` from dotted names; missing names keep defaults, unknown ones fail."""
    leaves = {name: (f, tp) for name, f, tp in flat_fields(cls)}
    unknown = sorted(set(values) - set(leaves))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; known: {sorted(leaves)}")
    nested: dict = {}
    for name, value in values.items():
        f, tp = leaves[name]
        value = _coerce(name, value, tp)
        _check(name, value, f)
        *path, leaf = name.split(".")
        node = nested
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return validate(_build(cls, nested))


def _build(cls, nested: Mapping[str, Any]):
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in nested:
            tp = hints[f.name]
            kwargs[f.name] = _build(tp, nested[f.name]) if _is_config(tp) else nested[f.name]
    return cls(**kwargs)
