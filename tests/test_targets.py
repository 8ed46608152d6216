"""Grasp and place targets (omni_ros.core.manipulation.targets): frames, yaw folding, heights."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from omni_ros.core.manipulation.targets import PLACE_CLEARANCE_M, grasp_target, grasp_yaw, place_target
from omni_ros.core.types import ObjectEstimate


def obj(shape, yaw_deg, size=(0.05, 0.05, 0.05), position=(0.5, 0.1, 0.025)):
    q = Rotation.from_euler("z", yaw_deg, degrees=True).as_quat()
    return ObjectEstimate(id="o", shape=shape, color="red", position=position, orientation=q, size=size)


@pytest.mark.parametrize("yaw_deg, expect_deg", [(0, 0), (30, 30), (60, -30), (90, 0), (-50, 40),
                                                   (135, -45), (179, -1)])
def test_cube_grasp_yaw_folds_onto_a_face_pair(yaw_deg, expect_deg):
    y = grasp_yaw("cube", obj("cube", yaw_deg).orientation)
    assert -np.pi / 4 <= y < np.pi / 4
    assert np.degrees(y) == pytest.approx(expect_deg, abs=1e-6)


@pytest.mark.parametrize("shape", ["sphere", "cylinder"])
def test_round_objects_take_yaw_zero(shape):
    assert grasp_yaw(shape, obj(shape, 37).orientation) == 0.0


def test_grasp_is_top_down_at_the_centre():
    g = grasp_target(obj("cube", 20, size=(0.04, 0.04, 0.04), position=(0.45, -0.1, 0.02)))
    np.testing.assert_allclose(g.position, [0.45, -0.1, 0.02])
    assert g.width == pytest.approx(0.04) and g.height_above_bottom == pytest.approx(0.02)
    tool_z = Rotation.from_quat(g.orientation()).apply([0, 0, 1])
    np.testing.assert_allclose(tool_z, [0, 0, -1], atol=1e-9)  # the tool points down


def test_place_sets_the_bottom_on_the_support_point():
    g = grasp_target(obj("cylinder", 0, size=(0.05, 0.05, 0.08), position=(0.5, 0.0, 0.04)))
    p = place_target([0.4, 0.2, 0.1], g)  # a 10 cm high support
    np.testing.assert_allclose(p, [0.4, 0.2, 0.1 + 0.04 + PLACE_CLEARANCE_M])
