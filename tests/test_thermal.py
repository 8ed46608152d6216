"""The thermal camera as a modality: temperatures onto perceived objects, "the hot one" in the
command language and grounding, and the operator-command rules that moved out of the nodes."""

import numpy as np
import pytest

from omni_ros.core.labels import temperature_label
from omni_ros.core.model.modalities import REGISTRY
from omni_ros.core.model.model_config import ModelConfig
from omni_ros.core.model.omni import OmniModel
from omni_ros.core.perception.commands import apply_command
from omni_ros.core.perception.grounding import split_temperature, temperature_candidates
from omni_ros.core.perception.pipeline import Perception
from omni_ros.core.speech.commands import jsgf_grammar, parse_command
from omni_ros.core.speech.pairing import PointPairing, make_command
from omni_ros.core.types import ObjectEstimate, OperatorCommand
from omni_ros_sim.config import SimConfig
from omni_ros_sim.scene import ObjectSpec, SceneSpec
from omni_ros_sim.world import World


def obj(i, t, shape="cube", colour="red", x=0.5):
    return ObjectEstimate(id=f"o{i}", shape=shape, color=colour, position=[x, 0.1 * i, 0.03],
                          temperature_c=t)


@pytest.mark.parametrize("text, target, temp", [
    ("pick up the hot one", "hot", "hot"), ("grab the cold cube", "cold cube", "cold"),
    ("take the hot red ball", "hot red sphere", "hot"), ("pick up the red cube", "red cube", None),
    ("get the red hot cube", "hot red cube", "hot")])
def test_commands_name_a_temperature(text, target, temp):
    p = parse_command(text)
    assert (p.target_description, p.temperature) == (target, temp)


def test_the_speech_grammar_has_the_temperature_words():
    g = jsgf_grammar()
    assert "<temperature> = hot | cold;" in g and "<temperature>" in g.split("<object> =")[1]


def test_grounding_filters_by_temperature_band():
    objs = [obj(0, 22.0), obj(1, 70.0, "sphere", "blue"), obj(2, 5.0), obj(3, 50.0)]
    assert [temperature_label(o.temperature_c) for o in objs] == ["", "hot", "cold", "hot"]
    assert temperature_candidates(objs, "hot") == [1, 3]             # hottest first
    assert temperature_candidates([obj(0, float("nan"))], "hot") == []  # unknown is not hot
    assert split_temperature("hot red cube") == ("hot", "red cube")


def test_annotate_reads_the_temperature_at_each_object():
    """In the sim, with a known hot and a known cold object, the thermal modality's annotate
    hook gives each perceived object (ground-truth positions here) its temperature band."""
    scene = SceneSpec(objects=[
        ObjectSpec(id="a", shape="cube", colour="red", material="wood", size=0.05,
                   position=[0.5, -0.1], temperature_c=80.0),
        ObjectSpec(id="b", shape="cylinder", colour="blue", material="metal", size=0.05,
                   position=[0.5, 0.12], temperature_c=4.0),
        ObjectSpec(id="c", shape="sphere", colour="green", material="rubber", size=0.05,
                   position=[0.62, 0.0], temperature_c=22.0)])
    with World(scene, SimConfig(), seed=0) as world:
        for _ in range(40):
            world.step()
        image = world.thermal.read()
        objects = world.ground_truth().objects
    seen = [ObjectEstimate(id=o.id, shape=o.shape, color=o.color, position=o.position)
            for o in objects]
    spec = REGISTRY["thermal"]
    spec.annotate(seen, {"thermal": image}, ModelConfig().thermal)
    assert [temperature_label(o.temperature_c) for o in seen] == ["hot", "cold", ""]


def test_pick_up_the_hot_one_grounds_the_hot_object_and_stop_clears_it():
    pipe = Perception(OmniModel(ModelConfig()))
    objs = [obj(0, 22.0), obj(1, 75.0, "sphere", "blue"), obj(2, 3.0)]
    pipe.objects = lambda now, fresh: list(objs)
    pick = OperatorCommand(0, "text", "pick up the hot one", "pick", "hot")
    assert apply_command(pipe, pick, 0, "panda_link0").detail == "o1"
    cold_cube = OperatorCommand(0, "text", "grab the cold cube", "pick", "cold cube")
    assert apply_command(pipe, cold_cube, 0, "panda_link0").detail == "o2"
    objs[1].temperature_c = 22.0   # it cooled down: nothing is hot
    out = apply_command(pipe, pick, 0, "panda_link0")
    assert (out.action, out.detail, pipe.target_id) == ("refused", "nothing hot in view", "")
    stop = OperatorCommand(0, "voice", "stop", "stop", "")
    assert apply_command(pipe, stop, 0, "panda_link0").action == "cleared" and pipe.target_id == ""
    far = OperatorCommand(0, "text", "pick up the red cube", "pick", "red cube",
                          np.zeros(3), "camera_link")
    out = apply_command(pipe, far, 0, "panda_link0")
    assert out.action == "rejected" and "expected 'panda_link0'" in out.detail


def test_point_pairing():
    s = int(1e9)
    pair = PointPairing("panda_link0", point_window_s=6.0, point_wait_s=3.0)
    cmd, parsed = make_command("put it there", "voice", 0.9, 0)
    assert pair.command(cmd, parsed, 0) == []                     # waits for a click
    (done,) = pair.point(np.array([0.5, 0.1, 0.0]), 1 * s)
    assert done.point_frame == "panda_link0" and done.point.tolist() == [0.5, 0.1, 0.0]
    cmd, parsed = make_command("move there", "text", 1.0, 0)
    assert pair.command(cmd, parsed, 10 * s) == []
    assert pair.tick(14 * s) == ([], [cmd])                        # dropped after 3 s
    pair.point(np.array([0.4, 0.0, 0.0]), 20 * s)                  # clicked first ...
    cmd, parsed = make_command("pick up that", "text", 1.0, 0)
    (done,) = pair.command(cmd, parsed, 22 * s)                    # ... goes with the command
    assert done.point is not None
    cmd, parsed = make_command("go there", "text", 1.0, 0)
    pair.command(cmd, parsed, 30 * s)
    stop, parsed = make_command("stop", "voice", 1.0, 0)
    assert pair.command(stop, parsed, 30 * s) == [stop] and pair.waiting is None
    assert make_command("take a picture", "voice", 1.0, 0) is None
