"""The robot's sensor topics (a view of omni_ros.streams, the one table of streams) with the
nominal rate of each, for nodes that read sensors generically (sensor_monitor, demo_talker)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from omni_ros_sim.config import SimConfig

from ..streams import BY_KEY, SENSOR_KEYS as _ALL, nominal_rates

SENSOR_KEYS = tuple(k for k in _ALL if k != "joints")  # joints: the robot's state, not a sensor


@dataclass(frozen=True)
class SensorTopic:
    key: str
    topic: str
    msg_type: type
    decode: Callable[[Any], Any]
    frame_id: str
    rate_hz: float  # nominal rate of the simulated robot; rates divide the 240 Hz physics step


_RATES = nominal_rates(SimConfig())
SENSOR_TOPICS: tuple[SensorTopic, ...] = tuple(
    SensorTopic(k, BY_KEY[k].topic, BY_KEY[k].msg_type, BY_KEY[k].decode, BY_KEY[k].frame_id,
                _RATES[k]) for k in SENSOR_KEYS)
SENSOR_BY_KEY = {s.key: s for s in SENSOR_TOPICS}
