"""Test-session set-up: DDS isolation and hypothesis settings."""

import os

import pytest
from hypothesis import HealthCheck, settings

from omni_ros import dds_env

# Every process of the run (child processes inherit it) discovers peers on this host only, on a
# random domain, with the project's transport: nothing here reaches a robot on the network, and
# other ROS 2 graphs on the machine stay out (tests/test_dds_env.py proves both).
dds_env.isolate()

settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rclpy_context():
    """An initialised rclpy context of its own, shut down after the test."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    yield context
    rclpy.shutdown(context=context)

