"""ROS parameters from config dataclasses (:mod:`omni_ros.core.config`).

Every leaf becomes a parameter whose descriptor carries the field's help, its allowed values
(``additional_constraints``) and, for a number with both bounds, its range
(FloatingPointRange / IntegerRange). Leaves marked ``param(..., runtime=True)`` can be changed
while the node runs (``ros2 param set``) when the node declares its config with
``runtime=True``; the others are read-only (a change needs a restart).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..core.config import ConfigError, allowed_text, apply_changes, flat_fields, from_flat_dict


def descriptor(f, default: Any, read_only: bool) -> ParameterDescriptor:
    """The ROS descriptor of config field ``f`` (its help, allowed values and range)."""
    allowed = allowed_text(f)
    desc = ParameterDescriptor(
        description=f.metadata.get("help", ""),
        additional_constraints=f"must be {allowed}" if allowed else "",
        read_only=read_only)
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and hi is not None and not f.metadata.get("choices"):
        if isinstance(default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                            to_value=float(hi), step=0.0)]
        elif isinstance(default, int) and not isinstance(default, bool):
            desc.integer_range = [IntegerRange(from_value=math.ceil(lo), to_value=math.floor(hi),
                                               step=0)]
    return desc


def declare_config(node: Node, cls, read_only: bool = True, runtime: bool = False,
                   on_change: Callable[[dict], None] | None = None):
    """Declare one ROS parameter per leaf of config ``cls`` and return the validated config.

    ``runtime``: the leaves marked ``runtime`` are writable, and a set-parameters request is
    validated like the config (:func:`~omni_ros.core.config.apply_changes`: rejected with a
    reason saying what is allowed, the old value kept) and applied to the returned config in
    place; ``on_change({dotted name: new value})`` then updates whatever holds copies.
    Raises :class:`omni_ros.core.config.ConfigError` naming the bad parameter and what is allowed.
    """
    defaults = cls()
    values = {}
    for name, f, tp in flat_fields(cls):
        default = defaults
        for part in name.split("."):
            default = getattr(default, part)
        desc = descriptor(f, default, read_only and not (runtime and f.metadata.get("runtime")))
        try:
            if isinstance(default, list) and not default and tp == list[str]:
                # an empty list would be declared a byte array: declare the type, no value
                value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, desc).value
                values[name] = [] if value is None else list(value)
            else:
                values[name] = node.declare_parameter(name, default, desc).value
        except InvalidParameterValueException as err:  # out of the descriptor's range
            override = getattr(node, "_parameter_overrides", {}).get(name)
            if override is not None:  # the config's own message: what is allowed, and why
                from_flat_dict(cls, {name: override.value})
            raise ConfigError(f"parameter '{name}': {err}") from None
    cfg = from_flat_dict(cls, values)
    if runtime:
        RuntimeParams(node, cfg, on_change)
    return cfg


class RuntimeParams:
    """The node's on-set-parameters callback for config ``cfg`` (see :func:`declare_config`)."""

    def __init__(self, node: Node, cfg, on_change: Callable[[dict], None] | None = None):
        self.node, self.cfg, self.on_change = node, cfg, on_change
        self.names = {name for name, _, _ in flat_fields(type(cfg))}
        node.add_on_set_parameters_callback(self._on_set)

    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in self.names}
        if not changes:  # not ours (use_sim_time, ...)
            return SetParametersResult(successful=True)
        try:
            changed = apply_changes(self.cfg, changes)
            if self.on_change is not None:
                self.on_change(changed)
        except ConfigError as err:
            self.node.get_logger().warning(f"parameter change refused: {err}")
            return SetParametersResult(successful=False, reason=str(err))
        self.node.get_logger().info("parameters changed: " + ", ".join(
            f"{k} = {v!r}" for k, v in changed.items()))
        return SetParametersResult(successful=True)
