"""Config dataclasses: validation messages, flattening, and ROS parameters built from them."""

from dataclasses import dataclass, field

import pytest
from rclpy.parameter import Parameter

from omni_ros.core.config import ConfigError, from_flat_dict, param, to_flat_dict, validate
from omni_ros.nodes.demo_talker import DemoTalkerConfig
from omni_ros.nodes.params import declare_config

from _util import run_py


@dataclass
class Inner:
    rate_hz: float = param(15.0, "frame rate [Hz]", min=1, max=240)
    mode: str = param("async", "fusion mode", choices=("async", "sync"))


@dataclass
class Outer:
    name: str = param("x", "a name")
    count: int = param(3, "how many", min=0)
    keys: list[str] = param(["a", "b"], "which keys", choices=("a", "b", "c"))
    inner: Inner = field(default_factory=Inner)


def test_flat_names_are_dotted_and_round_trip():
    flat = to_flat_dict(Outer())
    assert flat == {"name": "x", "count": 3, "keys": ["a", "b"], "inner.rate_hz": 15.0,
                    "inner.mode": "async"}
    assert from_flat_dict(Outer, flat) == Outer()
    assert from_flat_dict(Outer, {"inner.rate_hz": 30}).inner.rate_hz == 30.0


@pytest.mark.parametrize("values,expected", [
    ({"count": -1}, "parameter 'count' = -1: must be >= 0 (how many)"),
    ({"inner.rate_hz": 500.0}, "parameter 'inner.rate_hz' = 500.0: must be in [1, 240] (frame rate [Hz])"),
    ({"inner.rate_hz": float("nan")}, "parameter 'inner.rate_hz' = nan: must be in [1, 240]"),
    ({"inner.mode": "fast"}, "parameter 'inner.mode' = 'fast': must be one of 'async', 'sync'"),
    ({"keys": ["a", "z"]}, "parameter 'keys' = ['a', 'z']: must be one of 'a', 'b', 'c'"),
    ({"count": "3"}, "parameter 'count' = '3': must be of type int"),
    ({"count": True}, "parameter 'count' = True: must be of type int"),
    ({"nope": 1}, "unknown parameter(s) ['nope']"),
])
def test_bad_values_say_what_is_wrong_and_what_is_allowed(values, expected):
    with pytest.raises(ConfigError) as info:
        from_flat_dict(Outer, values)
    assert str(info.value).startswith(expected)


def test_validate_catches_values_set_after_construction():
    cfg = Outer()
    cfg.inner.rate_hz = 0.5
    with pytest.raises(ConfigError, match="inner.rate_hz"):
        validate(cfg)


def test_lists_are_not_shared_between_instances():
    a, b = Outer(), Outer()
    a.keys.append("c")
    assert b.keys == ["a", "b"]


def test_ros_parameters_are_declared_from_the_config(rclpy_context):
    from rclpy.node import Node

    node = Node("cfg_test", context=rclpy_context, parameter_overrides=[
        Parameter("duration_s", value=1.5), Parameter("sizes.image_width", value=320)])
    try:
        cfg = declare_config(node, DemoTalkerConfig)
        assert cfg.duration_s == 1.5 and cfg.sizes.image_width == 320
        assert node.get_parameter("sizes.cloud_points").value == cfg.sizes.cloud_points
        desc = node.describe_parameter("rate_scale")
        assert "multiplies" in desc.description and desc.additional_constraints == "must be in [0.01, 10.0]"
        assert desc.read_only and (desc.floating_point_range[0].from_value,
                                   desc.floating_point_range[0].to_value) == (0.01, 10.0)
    finally:
        node.destroy_node()


def test_ros_parameter_out_of_range_is_rejected(rclpy_context):
    from rclpy.node import Node

    node = Node("cfg_test_bad", context=rclpy_context,
                parameter_overrides=[Parameter("qos", value="fast")])
    try:
        with pytest.raises(ConfigError, match="parameter 'qos' = 'fast': must be one of 'sensor_data', 'reliable'"):
            declare_config(node, DemoTalkerConfig)
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_node_process_with_bad_parameter_exits_2_with_a_clear_message():
    out = run_py("-m", "omni_ros.nodes.demo_talker", "--ros-args", "-p", "rate_scale:=0.0",
                 timeout=60)
    assert out.returncode == 2
    assert "parameter 'rate_scale' = 0.0: must be in [0.01, 10.0]" in out.stderr
