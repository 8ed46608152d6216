"""The cloud tier over Zenoh (localhost only: every session here has multicast scouting off and
talks to 127.0.0.1 endpoints alone).

* The cloud process's core: CDR bytes of ROS messages from several robots, turned back into
  messages without a ROS graph, feed the fleet's object memory; questions are answered; bad
  bytes, unknown types and malformed questions are refused and counted, never fatal.
* Its language model: ``command`` maps a paraphrase ("fetch the azure orb") as teleop's lexicon
  would (pick, blue sphere, which word became what); garbage, text that is too long and
  questions while the model loads are refused and counted, and it keeps serving.
* The real processes: `omni-ros cloud` and a `cloud_gateway` node fed by /omni/scene over DDS.
  Questions are answered; with the cloud killed the gateway keeps running and answers
  "unreachable"; when the cloud comes back, answers resume by themselves.
"""

import json
import subprocess
import sys
import time

import pytest

from omni_ros.cloud import link
from _util import free_port


def _ask(session, question: str, **args) -> dict:
    replies = list(session.get(link.QUESTION.format(name=question),
                               payload=json.dumps(args).encode(), timeout=5.0))
    assert replies, f"no answer to {question}"
    r = replies[0]
    if r.ok is None:
        return {"error": json.loads(r.err.payload.to_bytes())["error"]}
    return json.loads(r.ok.payload.to_bytes())


def _wait(condition, timeout_s: float = 30.0, step_s: float = 0.05):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step_s)
    return condition()


def test_cloud_keeps_a_fleet_object_memory_from_robots_scenes_and_refuses_garbage():
    from rclpy.serialization import serialize_message

    from omni_ros.cloud.server import CloudServer
    from omni_ros.samples import output_sample

    endpoint = f"tcp/127.0.0.1:{free_port()}"
    server = CloudServer([endpoint], lexicon=False)
    robot = link.open_gateway([endpoint])
    try:
        assert _wait(lambda: link.connected(robot)), "the peer never reached the cloud"
        scene = output_sample("scene", seed=1, stamp_ns=5_000_000_000)   # red cube, blue sphere...
        kind = b"omni_ros_msgs/msg/SceneUnderstanding"
        for name in ("r1", "r2"):
            robot.put(link.UP.format(robot=name, topic="/omni/scene"), serialize_message(scene),
                      attachment=kind)
        robot.put(link.UP.format(robot="r2", topic="/omni/scene"), b"\x00\x01garbage",
                  attachment=kind)
        robot.put(link.UP.format(robot="r3", topic="/omni/scene"), serialize_message(scene),
                  attachment=b"sensor_msgs/msg/Image")
        status = _wait(lambda: (s := _ask(robot, "status"))["scenes"] >= 2
                       and sum(s["refused"].values()) >= 2 and s)
        assert status["robots"] == ["r1", "r2"] and status["received"] == {"r1": 1, "r2": 1}
        assert status["refused"] == {"r2": 1, "r3": 1}
        found = _ask(robot, "objects", description="red cube")["sightings"]
        assert sorted(s["robot"] for s in found) == ["r1", "r2"]
        red = next(o for o in scene.objects if o.color == "red")
        assert found[0]["position"] == pytest.approx([red.pose.position.x, red.pose.position.y,
                                                      red.pose.position.z])
        assert found[0]["frame_id"] == "panda_link0" and found[0]["stamp_s"] == pytest.approx(5.0)
        assert _ask(robot, "objects", description="red cube", robot="r2")["sightings"][0]["robot"] == "r2"
        assert _ask(robot, "objects", description="purple cube")["sightings"] == []
        bad = list(robot.get(link.QUESTION.format(name="objects"), payload=b"[1, 2]", timeout=5.0))
        assert bad and bad[0].ok is None and b"JSON object" in bad[0].err.payload.to_bytes()
        assert "--no-lexicon" in _ask(robot, "command", text="fetch the azure orb")["error"]
        assert _ask(robot, "status")["lexicon"]["state"] == "off"
    finally:
        robot.close()
        server.close()


def test_the_cloud_maps_a_paraphrase_as_teleop_would_and_refuses_garbage():
    from omni_ros.cloud.server import CloudServer

    endpoint = f"tcp/127.0.0.1:{free_port()}"
    server = CloudServer([endpoint])            # loads the language model in the background
    robot = link.open_gateway([endpoint])
    try:
        assert _wait(lambda: link.connected(robot)), "the peer never reached the cloud"
        first = _ask(robot, "command", text="fetch the azure orb")   # loading, or ready
        assert "error" not in first or "still loading" in first["error"], first
        lexicon = _wait(lambda: (s := _ask(robot, "status")["lexicon"])["state"] != "loading"
                        and s, timeout_s=300, step_s=0.5)
        assert lexicon["state"] == "ready" and "MiniLM" in lexicon["detail"], lexicon
        answer = _ask(robot, "command", text="fetch the azure orb")
        cmd = answer["command"]
        assert (cmd["intent"], cmd["target_description"], cmd["colour"], cmd["shape"]) == (
            "pick", "blue sphere", "blue", "sphere")
        assert answer["mapped"] == {"fetch": "pick", "azure": "blue", "orb": "sphere"}
        assert answer["canonical"] == "pick the blue sphere" and answer["unknown"] == []
        assert answer["lexicon"] == {"embeddings": True, "dictionary": True}
        nothing = _ask(robot, "command", text="sing me the zorblax song")
        assert nothing["command"] is None and "zorblax" in nothing["unknown"]
        assert "zorblax" in nothing["reason"]
        # garbage: refused with the reason, counted, and the cloud keeps serving
        garbage = {b"not json": "JSONDecodeError", b"[1, 2]": "JSON object",
                   json.dumps({"text": "x" * 501}).encode(): "1-500 characters",
                   json.dumps({"text": 42}).encode(): "1-500 characters",
                   json.dumps({}).encode(): "1-500 characters",
                   b"\xff\xfe": "DecodeError",
                   json.dumps({"text": "y" * (link.MAX_QUESTION + 1)}).encode(): "at most"}
        for payload, why in garbage.items():
            replies = list(robot.get(link.QUESTION.format(name="command"), payload=payload,
                                     timeout=5.0))
            assert replies and replies[0].ok is None, payload[:20]
            assert why in replies[0].err.payload.to_bytes().decode(), payload[:20]
        status = _ask(robot, "status")
        refused_before = 1 if "error" in first else 0
        assert status["questions_refused"] == {"command": len(garbage) + refused_before}
        assert status["questions"]["command"] == 3 - refused_before
        again = _ask(robot, "command", text="Could you grab the crimson dice, please?")
        assert again["command"]["target_description"] == "red cube"
    finally:
        robot.close()
        server.close()


@pytest.mark.ros
@pytest.mark.timeout(300)
def test_gateway_sends_scenes_up_answers_questions_and_outlives_the_cloud(rclpy_context):
    from omni_ros_msgs.msg import SceneUnderstanding
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    from omni_ros.benchmarks.pipeline import stop_process
    from omni_ros.nodes.common import RELIABLE_QOS
    from omni_ros.samples import output_sample

    port = free_port()
    endpoint = f"tcp/127.0.0.1:{port}"

    def start_cloud() -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "omni_ros.cli", "cloud", "--listen", endpoint],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = p.stdout.readline()
        assert "listening" in line, line + (p.stdout.read() if p.poll() is not None else "")
        return p

    node = Node("cloud_test", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    scenes = node.create_publisher(SceneUnderstanding, "/omni/scene", RELIABLE_QOS)
    ask = node.create_publisher(String, "/omni/cloud/ask", RELIABLE_QOS)
    answers: list[dict] = []
    node.create_subscription(String, "/omni/cloud/answer",
                             lambda m: answers.append(json.loads(m.data)), RELIABLE_QOS)
    diagnostics: dict = {}
    asks: dict = {}

    def on_diagnostics(msg):
        for st in msg.status:
            if st.name == "cloud_gateway: cloud link":
                diagnostics.update({kv.key: kv.value for kv in st.values})
            elif st.name == "cloud_gateway: ask":
                asks.update({kv.key: kv.value for kv in st.values})
    from diagnostic_msgs.msg import DiagnosticArray
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    cloud = start_cloud()
    gateway = subprocess.Popen([sys.executable, "-m", "omni_ros.nodes.cloud_gateway", "--ros-args",
                                "-p", "robot:=r1", "-p", f"connect:=['{endpoint}']",
                                "-p", "up_rate_hz:=[5.0]", "-p", "answer_timeout_s:=0.5"])
    scene = output_sample("scene", seed=2, stamp_ns=1)
    asked = [0]

    def pump(seconds: float, until=None):
        """Publish scenes at ~30 Hz and ask "red cube?" every 0.25 s, serving callbacks."""
        end = time.monotonic() + seconds
        next_ask = 0.0
        while time.monotonic() < end:
            assert gateway.poll() is None, f"the gateway exited with {gateway.returncode}"
            scene.header.stamp.sec = int(time.time())
            scenes.publish(scene)
            if time.monotonic() >= next_ask:
                asked[0] += 1
                ask.publish(String(data=json.dumps({"id": asked[0], "question": "objects",
                                                    "description": "red cube"})))
                next_ask = time.monotonic() + 0.25
            ex.spin_once(timeout_sec=0.03)
            if until is not None and until():
                return True
        return False

    def answered(status: str, after: int = 0):
        """An answer with ``status`` to a question asked after question ``after``; "ok" ones
        must name r1's red cube (the scenes went up)."""
        return lambda: any(a["status"] == status and a["id"] > after and (
            status != "ok" or [s["robot"] for s in a["answer"]["sightings"]] == ["r1"])
            for a in answers)

    try:
        assert pump(120, answered("ok")), answers[-3:]
        assert pump(30, lambda: int(diagnostics.get("skipped_rate", 0)) > 0)  # 30 Hz in, <= 5 up
        cloud.kill()
        cloud.wait()
        down_from = asked[0]
        assert pump(60, answered("unreachable", down_from)), answers[-3:]
        assert pump(30, lambda: diagnostics.get("link") == "down")
        cloud = start_cloud()                       # the link returns: answers resume by themselves
        back_from = asked[0]
        assert pump(60, answered("ok", back_from)), answers[-3:]
        assert gateway.poll() is None
        bad_before = len(answers)
        ask.publish(String(data="not json"))        # refused and counted, never answered
        ask.publish(String(data=json.dumps({"id": -1, "question": "objects"})))
        assert pump(30, lambda: any(a["id"] == -1 for a in answers[bad_before:]))
        assert pump(30, lambda: int(asks.get("rejected.data", 0)) == 1), asks
    finally:
        for p in (gateway, cloud):
            stop_process(p)
        ex.shutdown()
        node.destroy_node()
