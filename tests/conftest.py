"""Test-session set-up: an isolated DDS domain and hypothesis settings."""

import os
import random

import pytest
from hypothesis import HealthCheck, settings

# Keep this run's DDS traffic away from other ROS 2 processes on the machine (child processes
# inherit it). Domain ids 0-101 are safe for every RMW's port mapping.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 101)))

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

