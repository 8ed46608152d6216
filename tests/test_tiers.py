"""The tiered graph (issue 18): edge encoders publish latents, the region's fusion fuses them.

Offline (no ROS, but through the LatentStamped message): on a recorded sim episode the edge +
fusion pair gives the monolithic pipeline's scenes (same fusion times) within float tolerance,
and fusion refuses latents of another checkpoint, width or modality. Over real DDS between real
processes: the encoder and fusion nodes fed by the sim bridge publish scenes whose fused latent
is the model's fusion of exactly the latents the edge sent.
"""

import numpy as np
import pytest

from omni_ros import conversions as cv
from omni_ros.core.errors import InputError

from _util import node_entities

BASE = "panda_link0"


@pytest.fixture(scope="module")
def shipped():
    from omni_ros.core.model.checkpoint import load_checkpoint, resolve
    from omni_ros.core.perception.text_cache import file_sha256

    model, _, _ = load_checkpoint("omni_small.pt")
    return model, file_sha256(resolve("omni_small.pt"))


def _tiers(model, sha256):
    """(monolithic, edge, fusion) pipelines of one model."""
    from omni_ros.core.perception.pipeline import Perception

    mono, edge = Perception(model), Perception(model)
    region = Perception(model, remote=model.names)
    edge.checkpoint_sha256 = region.checkpoint_sha256 = sha256
    return mono, edge, region


def _same_scene(a, b):
    assert a.present == b.present
    np.testing.assert_allclose(a.gate_weights, b.gate_weights, atol=1e-6)
    np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-5)
    np.testing.assert_allclose(a.fused_latent, b.fused_latent, atol=1e-5)
    assert (a.in_contact, a.grasping, a.held_object_id) == (b.in_contact, b.grasping, b.held_object_id)
    assert [(e.kind, e.object_id) for e in a.events] == [(e.kind, e.object_id) for e in b.events]
    assert [o.id for o in a.objects] == [o.id for o in b.objects]
    for p, q in zip(a.objects, b.objects):
        np.testing.assert_allclose(p.position, q.position, atol=1e-6)
        np.testing.assert_allclose(p.size, q.size, atol=1e-6)
        assert abs(p.confidence - q.confidence) < 1e-6
    np.testing.assert_allclose(a.ages, b.ages, atol=1e-9)


def test_edge_and_fusion_give_the_monolithic_scenes_on_a_recorded_episode(shipped):
    """Every reading of a sim episode goes to the monolithic pipeline and to the edge; each
    latent the edge makes travels as a LatentStamped message to the fusion tier. Fused at the
    same times (30 Hz), the scenes agree - objects, held object, events and gates included -
    also while the camera is silent (remembered objects confirmed by the lidar's clusters, which
    come from the edge) and for a grounded command."""
    from omni_ros_sim.config import SimConfig

    from omni_ros.dataset.generate import episode_items

    model, sha256 = shipped
    mono, edge, region = _tiers(model, sha256)
    items = episode_items(3, SimConfig())
    next_fuse, fused, silent_checked, sent = 0, 0, 0, {n: 0 for n in model.names}
    for key, stamp, payload in items:
        if 2.0e9 <= stamp < 2.6e9 and key in ("color", "depth"):
            continue                                     # the camera goes silent for 0.6 s
        mono.push(key, stamp, payload)
        name = edge.push(key, stamp, payload)
        if name is not None:
            msg = cv.latent_to_msg(edge.latent(name, stamp, BASE))
            cv.latent_checker(model.cfg.latent_dim)(msg)
            assert region.receive(cv.msg_to_latent(msg)) == name
            sent[name] += 1
        if stamp >= next_fuse:
            next_fuse = stamp + int(1e9 / 30)
            a, b = mono.fuse(stamp, BASE), region.fuse(stamp, BASE)
            assert (a is None) == (b is None)
            if a is not None:
                _same_scene(a, b)
                fused += 1
                if not a.present[a.modalities.index("camera")] and a.objects:
                    silent_checked += 1
        if stamp > 4.0e9:
            break
    items.close()
    assert fused >= 100 and silent_checked >= 5, (fused, silent_checked)
    assert all(sent.values()), sent
    assert any(o.latent is not None for o in region.camera_objects)
    for command in ("red cube", "blue sphere", "green cylinder"):
        assert mono.set_target(command, None, stamp) == region.set_target(command, None, stamp)
        assert mono.refusal == region.refusal


def test_fusion_refuses_latents_of_another_checkpoint_width_modality_or_order(shipped):
    from omni_ros.core.types import LatentVector

    model, sha256 = shipped
    _, _, region = _tiers(model, sha256)
    region.remote = ("camera", "force")
    v = np.ones(model.cfg.latent_dim, np.float32) / np.sqrt(model.cfg.latent_dim)

    def latent(modality="force", stamp=10_000, version=sha256, vector=v):
        return LatentVector(modality, stamp, stamp, vector, version, BASE)

    assert region.receive(latent()) == "force"
    cases = {"encoder_version": latent(version="0" * 64, stamp=20_000),
             "modality": latent(modality="audio", stamp=20_000),
             "latent": latent(vector=v[:-1], stamp=20_000),
             "source_stamp": latent(stamp=5_000)}
    for field, bad in cases.items():
        with pytest.raises(InputError) as err:
            region.receive(bad)
        assert err.value.field == field, (field, err.value)
    with pytest.raises(InputError, match="same checkpoint"):
        region.receive(cases["encoder_version"])
    assert region.cache["force"].stamp_ns == 10_000          # nothing refused reached the cache
    # the message's door check: width and object counts before anything is decoded
    check = cv.latent_checker(model.cfg.latent_dim)
    msg = cv.latent_to_msg(latent(vector=np.ones(7, np.float32)))
    with pytest.raises(InputError, match="7 values"):
        check(msg)
    msg = cv.latent_to_msg(latent())
    msg.objects = [cv.object_to_msg(_object())] * 300
    with pytest.raises(InputError, match="at most"):
        check(msg)


def _object():
    from omni_ros.core.types import ObjectEstimate
    return ObjectEstimate("red_cube", "cube", "red", position=[0.5, 0.0, 0.02], size=[0.04] * 3)


@pytest.mark.ros
@pytest.mark.timeout(400)
def test_tiered_graph_over_dds_fuses_exactly_the_latents_the_edge_sent_and_refuses_others(shipped):
    """`omni-ros up --sim --tier edge,region`'s nodes as real processes: the sim bridge, an
    encoder (every modality) and fusion. Each scene's fused latent and gates are the model's
    fusion of exactly the latents the edge published (matched by their source stamps: scene
    stamp - age); the camera's objects are the edge's. A latent stamped with another checkpoint
    is refused and counted on fusion's /diagnostics."""
    import time

    import torch
    from omni_ros_msgs.msg import LatentStamped
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from omni_ros.benchmarks.live import live_graph

    model, sha256 = shipped
    sent: dict[str, dict[int, object]] = {n: {} for n in model.names}
    versions = set()

    def keep(msg):
        lat = cv.msg_to_latent(msg)
        versions.add(lat.encoder_version)
        sent[lat.modality][lat.source_stamp_ns] = lat

    def match(modality, stamp_ns):
        near = [s for s in sent[modality] if abs(s - stamp_ns) <= 1000]
        return sent[modality][near[0]] if near else None

    deep = QoSProfile(depth=500, reliability=ReliabilityPolicy.RELIABLE)
    with live_graph(3, tiers=("edge", "region")) as (graph, op):
        assert sorted(graph_names(graph)) == ["action", "encoder", "fusion", "sim_bridge", "teleop"]
        for n in model.names:
            op.create_subscription(LatentStamped, f"/omni/latent/{n}", keep, deep)
        checked, seen, end = 0, 0, time.monotonic() + 240
        while checked < 30:
            assert time.monotonic() < end, f"{checked} scenes matched to the edge's latents"
            assert all(code is None for code in graph.poll().values()), graph.poll()
            op.executor_.spin_once(timeout_sec=0.05)
            for _, scene in op.scenes[seen:]:
                seen += 1
                if not all(scene.present):
                    continue
                used = [match(n, scene.stamp_ns - round(a * 1e9))
                        for n, a in zip(scene.modalities, scene.ages)]
                if None in used:  # a latent still in flight to this process
                    continue
                latents = {n: torch.from_numpy(u.vector)[None] for n, u in zip(model.names, used)}
                with torch.no_grad():
                    fused, gates, _ = model.fuse_explained(latents, torch.tensor([scene.present]))
                np.testing.assert_allclose(scene.fused_latent, fused[0].numpy(), atol=1e-5)
                np.testing.assert_allclose(scene.gate_weights, gates[0].numpy(), atol=1e-5)
                camera = used[model.names.index("camera")]
                assert sorted(o.id for o in camera.objects) == sorted(o.id for o in scene.objects)
                checked += 1
        assert versions == {sha256}
        # another checkpoint's latent: refused with its reason, counted on fusion's diagnostics
        bad = cv.latent_to_msg(next(iter(sent["force"].values())))
        bad.encoder_version = "0" * 64
        pub = op.create_publisher(LatentStamped, "/omni/latent/force", deep)

        def refused() -> bool:
            for array in op.diagnostics:
                for st in array.status:
                    if st.name == "fusion: latent/force":
                        values = {kv.key: kv.value for kv in st.values}
                        if int(values.get("rejected.encoder_version", 0)) > 0:
                            return True
            return False
        end = time.monotonic() + 120
        while not refused():
            assert time.monotonic() < end, "fusion did not count the foreign latent"
            bad.header.stamp = bad.source_stamp = cv.ns_to_stamp(op.now_ns())
            pub.publish(bad)
            op.spin_until(refused, 1.0)
        assert all(code is None for code in graph.poll().values()), graph.poll()


def graph_names(graph) -> list[str]:
    return [s.name for s in graph.specs]


@pytest.mark.ros
@pytest.mark.timeout(300)
def test_voice_and_point_pick_and_place_through_the_tiered_graph():
    """The live task (speech, click, grounding, pick, place) with perception split into the
    edge encoder and the region's fusion node."""
    from omni_ros.benchmarks.live import heard_right, live_graph, run_episode

    with live_graph(3, tiers=("edge", "region")) as (graph, op):
        rep = run_episode(op, 3, "us_male")
        assert all(code is None for code in graph.poll().values()), graph.poll()
    assert rep.success, rep.summary()
    assert heard_right(rep) and rep.grounded == rep.target.replace(" ", "_")
    assert rep.lifted_m >= 0.10 and rep.place_error_m <= 0.03


@pytest.mark.ros
@pytest.mark.parametrize("kind", ["encoder", "fusion"])
def test_tier_nodes_cleanup_undoes_configure_exactly(kind, rclpy_context):
    """configure -> cleanup -> configure: the same subscriptions and publishers, never twice.
    The encoder subscribes to its modalities' sensor streams only (no thermal annotation) and
    publishes one latent topic each; fusion subscribes to the latents instead of the sensors."""
    import rclpy.parameter
    from rclpy.lifecycle import TransitionCallbackReturn as R

    from omni_ros.nodes.encoder import EncoderNode
    from omni_ros.nodes.fusion import FusionNode
    from omni_ros.nodes.sensor_inputs import input_streams

    if kind == "encoder":
        node = EncoderNode(context=rclpy_context, parameter_overrides=[
            rclpy.parameter.Parameter("autostart", value=False),
            rclpy.parameter.Parameter("modalities", value=["camera", "force"])])
    else:
        node = FusionNode(context=rclpy_context, parameter_overrides=[
            rclpy.parameter.Parameter("autostart", value=False)])
    try:
        def entities():
            return node_entities(node)

        bare = entities()
        assert node.trigger_configure() == R.SUCCESS
        configured = entities()
        added = sorted(set(configured[0]) - set(bare[0]))
        if kind == "encoder":
            from omni_ros.streams import BY_KEY
            assert added == sorted(BY_KEY[k].topic for k in input_streams(["camera", "force"],
                                                                           annotators=False))
            assert {"/omni/latent/camera", "/omni/latent/force"} <= set(configured[1])
            assert not any("thermal" in t for t in added)
        else:
            latents = [f"/omni/latent/{n}" for n in node.pipe.names]
            assert set(latents) <= set(added) and "/omni/teleop" in added
            assert not any(t.startswith("/camera") for t in added)  # no sensor but thermal
        assert node.trigger_activate() == R.SUCCESS
        assert node.trigger_deactivate() == R.SUCCESS
        assert node.trigger_cleanup() == R.SUCCESS
        assert entities() == bare
        assert node.trigger_configure() == R.SUCCESS
        assert entities() == configured
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_bad_tier_parameters_fail_configure_with_what_is_allowed(rclpy_context):
    import rclpy.parameter
    from rclpy.lifecycle import TransitionCallbackReturn as R

    from omni_ros.nodes.encoder import EncoderNode
    from omni_ros.nodes.fusion import FusionNode

    node = FusionNode(context=rclpy_context, parameter_overrides=[
        rclpy.parameter.Parameter("autostart", value=False),
        rclpy.parameter.Parameter("checkpoint", value="omni_small.pt"),
        rclpy.parameter.Parameter("latent_inputs", value=["thermal"])])
    try:
        assert node.trigger_configure() == R.FAILURE    # omni_small.pt does not fuse thermal
    finally:
        node.destroy_node()
    node = EncoderNode(context=rclpy_context, parameter_overrides=[
        rclpy.parameter.Parameter("autostart", value=False),
        rclpy.parameter.Parameter("modalities", value=["thermal"])])
    try:
        assert node.trigger_configure() == R.FAILURE
    finally:
        node.destroy_node()
    from omni_ros.core.config import ConfigError, from_flat_dict
    from omni_ros.nodes.fusion import FusionConfig
    with pytest.raises(ConfigError, match="'all'"):
        from_flat_dict(FusionConfig, {"latent_inputs": ["sonar"]})
