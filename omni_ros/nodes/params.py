"""ROS parameters from config dataclasses (:mod:`omni_ros.core.config`)."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..core.config import allowed_text, flat_fields, from_flat_dict


def declare_config(node: Node, cls, read_only: bool = True):
    """Declare one ROS parameter per leaf of config ``cls`` and return the validated config.

    Raises :class:`omni_ros.core.config.ConfigError` naming the bad parameter and what is allowed.
    """
    defaults = cls()
    values = {}
    for name, f, tp in flat_fields(cls):
        default = defaults
        for part in name.split("."):
            default = getattr(default, part)
        allowed = allowed_text(f)
        desc = ParameterDescriptor(
            description=f.metadata.get("help", ""),
            additional_constraints=f"must be {allowed}" if allowed else "",
            read_only=read_only)
        if isinstance(default, list) and not default and tp == list[str]:
            # an empty list would be declared a byte array: declare the type, no value
            value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, desc).value
            values[name] = [] if value is None else list(value)
        else:
            values[name] = node.declare_parameter(name, default, desc).value
    return from_flat_dict(cls, values)
