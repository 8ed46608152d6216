"""ClassVote: an object's class from its recent sightings (omni_ros.core.perception.class_vote)."""

import numpy as np

from omni_ros.core.perception.class_vote import ClassVote
from omni_ros.core.types import ObjectEstimate

S = 1_000_000_000  # ns


def obj(shape, colour, x, y=0.0, confidence=0.9):
    return ObjectEstimate(f"{colour}_{shape}", shape, colour, confidence=confidence,
                          position=[x, y, 0.03])


def test_a_flickering_class_takes_the_most_confident_over_its_sightings():
    vote = ClassVote(1.0)
    for k in range(4):
        vote([obj("cylinder", "red", 0.5), obj("cube", "blue", 0.6)], k * S // 10)
    out = vote([obj("cube", "red", 0.501), obj("cube", "blue", 0.6)], 4 * S // 10)
    assert [(o.id, o.shape, o.color) for o in out] == [("red_cylinder", "cylinder", "red"),
                                                       ("blue_cube", "cube", "blue")]
    assert out[0].position[0] == 0.501  # the frame's own pose
    assert np.isclose(out[0].confidence, 4 * 0.9 / 5)


def test_evidence_expires_after_the_window_and_when_time_goes_back():
    vote = ClassVote(0.5)
    vote([obj("cylinder", "red", 0.5)], 0)
    vote([obj("cylinder", "red", 0.5)], S // 10)
    assert vote([obj("cube", "red", 0.5)], S // 5)[0].shape == "cylinder"
    assert vote([obj("cube", "red", 0.5)], 2 * S)[0].shape == "cube"  # the rest is > 0.5 s old
    vote([obj("cylinder", "red", 0.5)], 2 * S + S // 10)
    assert vote([obj("sphere", "red", 0.5)], S)[0].shape == "sphere"  # time went back: afresh


def test_sightings_chain_only_through_near_objects():
    vote = ClassVote(2.0)
    for k in range(5):  # carried 2 cm per frame: one chain
        vote([obj("cylinder", "green", 0.40 + 0.02 * k)], k * S // 15)
    assert vote([obj("cube", "green", 0.50)], 5 * S // 15)[0].shape == "cylinder"
    far = ClassVote(2.0)
    far([obj("cylinder", "green", 0.40)], 0)
    assert far([obj("cube", "green", 0.45)], S // 15)[0].shape == "cube"  # 5 cm away


def test_a_zero_window_leaves_every_frame_alone():
    vote = ClassVote(0.0)
    first = [obj("cylinder", "red", 0.5)]
    assert vote(first, 0) is first
    assert vote([obj("cube", "red", 0.5)], S // 10)[0].shape == "cube"
