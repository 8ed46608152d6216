"""Paraphrases the robot cannot map itself, mapped by the cloud's language model.

* Plain Python: the cloud's answer (core.speech.remote_lexicon.explain) carries what its lexicon
  said about each word; the robot parses the text with those answers and its own vocabulary, and
  refuses answers that map onto words outside it (or onto a stop), are about another text, or
  disagree with its own parse. The asker (omni_ros.cloud.asker) matches answers to questions by
  id, ignores other askers' answers and late ones, resends a question once, gives up at its
  deadline and wakes at once on cancel.
* Real processes (omni-ros cloud, cloud_gateway and teleop over DDS on this host): teleop with
  ``lexicon: false, cloud_lexicon: true`` turns a typed paraphrase into a /omni/teleop command
  via the cloud; a typed stop goes out while a question to the cloud is unanswered and drops it;
  with the cloud down a paraphrase is rejected with the reason and a stop still goes out.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from omni_ros.cloud.asker import CloudAsker
from omni_ros.core.speech.lexicon import Lexicon
from omni_ros.core.speech.remote_lexicon import (AnswerError, AnsweredLexicon, check_answer,
                                                 explain)

from test_cloud import free_port

AZURE = {"text": "fetch the azure orb", "command": {"intent": "pick",
                                                    "target_description": "blue sphere"},
         "mapped": {"fetch": "pick", "azure": "blue", "orb": "sphere"}, "colour_words": ["azure"]}


def colour_lexicon() -> Lexicon:
    """The lexicon of a robot without the 'sentence' extra: colours only."""
    return Lexicon(shapes={"cube": ("cube",), "sphere": ("sphere",), "cylinder": ("cylinder",)},
                   verbs={"pick": ("pick",), "place": ("put",), "move": ("move",)},
                   use_embeddings=False, use_dictionary=False)


# -- the cloud's answer and the robot's parse of it (no ROS, no Zenoh) ------------------------


def test_the_robot_parses_a_cloud_answer_with_its_own_vocabulary():
    lexicon, parsed = check_answer("fetch the azure orb", json.loads(json.dumps(AZURE)))
    assert (parsed.intent, parsed.target_description, parsed.colour, parsed.shape) == (
        "pick", "blue sphere", "blue", "sphere")
    assert parsed.confidence == pytest.approx(0.625)        # three of four words mapped
    assert lexicon.verb("fetch") == "pick" and lexicon.verb("orb") is None
    # a pick-only mapping for "me": only pick verbs count
    assert AnsweredLexicon({"hand": "put"}).verb("hand", recipient=True) is None
    # "the grey ball": a colour word without a hue of ours is no command, as with the lexicon
    _, parsed = check_answer("get the grey ball", {"text": "get the grey ball", "command": None,
                                                   "mapped": {}, "colour_words": ["grey"]})
    assert parsed is None


@pytest.mark.parametrize("change, message", [
    ({"text": "fetch the red orb"}, "not this text"),
    ({"mapped": {"fetch": "stop", "azure": "blue", "orb": "sphere"}}, "not a colour, shape"),
    ({"mapped": {"fetch": "home", "azure": "blue", "orb": "sphere"}}, "not a colour, shape"),
    ({"mapped": {"fetch": "pick", "azure": "blue", "orb": "sphere", "lamp": "cube"}},
     "not in the text"),
    ({"mapped": {"fetch": "pick", "azure": "red", "orb": "sphere"}}, "same omni_ros version"),
    ({"command": None}, "same omni_ros version"),
    ({"mapped": ["fetch"]}, "must be an object"),
    ({"command": "pick"}, "'command' must be an object"),
])
def test_unusable_cloud_answers_are_refused(change, message):
    with pytest.raises(AnswerError, match=message):
        check_answer("fetch the azure orb", {**AZURE, **change})
    with pytest.raises(AnswerError, match="not a JSON object"):
        check_answer("fetch the azure orb", ["pick"])


def test_explain_says_what_was_mapped_and_what_stays_unknown_without_the_extra():
    answer = explain("fetch the azure orb", colour_lexicon())
    assert answer["command"] is None and answer["mapped"] == {"azure": "blue"}
    assert answer["unknown"] == ["fetch", "orb"] and answer["reason"] == "unknown words: fetch, orb"
    assert answer["lexicon"] == {"embeddings": False, "dictionary": False}
    answer = explain("pick up the crimson sphere", colour_lexicon())
    assert answer["command"]["target_description"] == "red sphere"
    assert answer["canonical"] == "pick up the red sphere" and answer["unknown"] == []
    _, parsed = check_answer(answer["text"], json.loads(json.dumps(answer)))
    assert parsed.target_description == "red sphere"
    assert "no hue of ours" in explain("pick up the grey sphere", colour_lexicon())["reason"]
    for bad in ("", "   ", "x" * 501, None, 3):
        with pytest.raises(ValueError, match="1-500 characters"):
            explain(bad, colour_lexicon())


def test_the_cloud_says_when_its_language_model_lacks_the_extra_or_is_off():
    from omni_ros.cloud.server import CommandLexicon

    colours = CommandLexicon(colour_lexicon())
    assert colours.status()["state"] == "ready"
    assert "the optional 'sentence' extra is not installed" in colours.status()["detail"]
    assert colours.explain("fetch the azure orb")["unknown"] == ["fetch", "orb"]
    off = CommandLexicon(False)
    assert off.status() == {"state": "off", "detail": "started without the language model "
                                                      "(--no-lexicon)"}
    with pytest.raises(ValueError, match="no language model: started without"):
        off.explain("fetch the azure orb")


# -- asking through the gateway, matched by id (no ROS) ---------------------------------------


class FakeGateway:
    """Answers the asker's questions as the gateway would, when told to."""

    def __init__(self):
        self.sent: list[dict] = []
        self.asker: CloudAsker | None = None

    def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def answer(self, status: str = "ok", qid=None, **extra) -> bool:
        q = self.sent[-1]
        msg = {"id": q["id"] if qid is None else qid, "question": q["question"],
               "status": status, "elapsed_s": 0.01, **extra}
        return self.asker.on_answer(json.dumps(msg))


def ask_in_thread(asker, **args):
    out = {}
    thread = threading.Thread(target=lambda: out.update(a=asker.ask("command", **args)))
    thread.start()
    return thread, out


def until(condition, timeout_s: float = 30.0):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end
        time.sleep(0.005)


def test_answers_are_matched_to_questions_by_id():
    gw = FakeGateway()
    asker = gw.asker = CloudAsker(gw.send, timeout_s=60.0, name="teleop")
    other = CloudAsker(lambda text: None, timeout_s=60.0, name="teleop")
    thread, out = ask_in_thread(asker, text="fetch the azure orb")
    until(lambda: gw.sent)
    assert gw.sent[0]["question"] == "command" and gw.sent[0]["text"] == "fetch the azure orb"
    assert gw.sent[0]["id"].startswith(asker.prefix) and asker.prefix != other.prefix
    assert not gw.answer(qid=f"{other.prefix}1", answer={})    # another asker's: ignored
    assert not asker.on_answer("not json " + asker.prefix)     # ours, malformed: counted
    assert not gw.answer(status="weird")
    assert gw.answer(answer={"text": "fetch the azure orb"})
    thread.join(timeout=30)
    assert out["a"].ok and out["a"].answer == {"text": "fetch the azure orb"}
    assert not gw.answer(answer={})                            # a repeat: late, ignored
    assert asker.stats() == {"answers.ok": 1, "ignored": 1, "late": 1, "malformed": 2}
    # statuses other than ok carry the gateway's error into the reason
    thread, out = ask_in_thread(asker, text="fetch the azure orb")
    until(lambda: len(gw.sent) == 2)
    assert gw.answer("unreachable", error="the cloud link is down")
    thread.join(timeout=30)
    assert out["a"].reason() == "cloud unreachable (the cloud link is down)"


def test_an_unanswered_question_is_resent_once_then_given_up_and_cancel_wakes_it():
    gw = FakeGateway()
    asker = gw.asker = CloudAsker(gw.send, timeout_s=0.4, name="t")
    answer = asker.ask("command", text="fetch the azure orb")
    assert answer.status == "no_answer" and "0.4 s" in answer.error
    assert len(gw.sent) == 2 and gw.sent[0] == gw.sent[1]      # the same question, same id
    asker = gw.asker = CloudAsker(gw.send, timeout_s=600.0, name="t")
    thread, out = ask_in_thread(asker, text="fetch the azure orb")
    until(lambda: len(gw.sent) == 3)
    asker.cancel()                                              # a stop came
    thread.join(timeout=30)
    assert out["a"].status == "cancelled" and not thread.is_alive()
    # nobody subscribed to the questions: no_gateway at once, nothing sent
    lonely = CloudAsker(gw.send, timeout_s=600.0, ready=lambda: False)
    assert lonely.ask("command", text="x").status == "no_gateway" and len(gw.sent) == 3


# -- teleop asks the real cloud through the real gateway ---------------------------------------


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_teleop_maps_a_paraphrase_via_the_cloud_and_stops_never_wait_for_it(rclpy_context,
                                                                           tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from omni_ros_msgs.msg import TeleopCommand
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    from omni_ros.nodes.common import RELIABLE_QOS

    endpoint = f"tcp/127.0.0.1:{free_port()}"
    cloud = subprocess.Popen([sys.executable, "-m", "omni_ros.cli", "cloud", "--listen", endpoint],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = cloud.stdout.readline()
    assert "listening" in line, line + (cloud.stdout.read() if cloud.poll() is not None else "")
    threading.Thread(target=lambda: [None for _ in cloud.stdout], daemon=True).start()  # drain
    gateway = subprocess.Popen([sys.executable, "-m", "omni_ros.nodes.cloud_gateway",
                                "--ros-args", "-p", "robot:=r1", "-p",
                                f"connect:=['{endpoint}']", "-p", "answer_timeout_s:=2.0"])
    log = tmp_path / "teleop.log"
    with open(log, "w") as out:
        teleop = subprocess.Popen(
            [sys.executable, "-m", "omni_ros.nodes.teleop", "--ros-args",
             "-p", "lexicon:=false", "-p", "cloud_lexicon:=true", "-p", "cloud_timeout_s:=60.0",
             "-p", "vad:=energy", "-p", "asr.backend:=pocketsphinx"],
            stdout=out, stderr=subprocess.STDOUT)
    node = Node("cloud_lexicon_test", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    typed = node.create_publisher(String, "/omni/command_text", RELIABLE_QOS)
    ask = node.create_publisher(String, "/omni/cloud/ask", RELIABLE_QOS)
    commands: list = []
    questions: list[dict] = []
    answers: list[dict] = []
    diag: dict[str, dict] = {}
    node.create_subscription(TeleopCommand, "/omni/teleop", commands.append, RELIABLE_QOS)
    node.create_subscription(String, "/omni/cloud/ask",
                             lambda m: questions.append(json.loads(m.data)), RELIABLE_QOS)
    node.create_subscription(String, "/omni/cloud/answer",
                             lambda m: answers.append(json.loads(m.data)), RELIABLE_QOS)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda msg: diag.update(
        {s.name: {kv.key: kv.value for kv in s.values} for s in msg.status}), 50)

    def spin_until(condition, timeout_s: float = 120.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for p in (gateway, teleop):
                assert p.poll() is None, f"{p.args[2]} exited with {p.returncode}: " \
                    + log.read_text()[-3000:]
            ex.spin_once(timeout_sec=0.05)
            if condition():
                return True
        return False

    def rejected(field: str) -> int:
        return int(diag.get("teleop: text_command", {}).get(f"rejected.{field}", 0))

    def picks() -> list:
        return [c for c in commands if c.intent == "pick"]

    try:
        # the cloud's language model is loaded (asked through the gateway, as teleop will)
        def lexicon_ready() -> bool:
            ask.publish(String(data=json.dumps({"id": "status", "question": "status"})))
            spin_until(lambda: False, 1.0)
            got = [a for a in answers if a.get("id") == "status" and a["status"] == "ok"]
            return bool(got) and got[-1]["answer"]["lexicon"]["state"] == "ready"
        assert spin_until(lexicon_ready, 300), answers[-2:]
        assert spin_until(lambda: typed.get_subscription_count() >= 1
                          and "teleop: cloud lexicon" in diag, 300), log.read_text()[-3000:]

        # 1. a paraphrase this robot cannot map is mapped by the cloud
        typed.publish(String(data="fetch the azure orb"))
        assert spin_until(lambda: picks(), 120), (answers[-3:], log.read_text()[-3000:])
        pick = picks()[0]
        assert (pick.target_description, pick.raw_text, pick.source) == (
            "blue sphere", "fetch the azure orb", "text")
        asked = [q for q in questions if q.get("question") == "command"]
        assert asked and asked[0]["text"] == "fetch the azure orb"
        assert str(asked[0]["id"]).startswith("teleop-")

        # 2. the gateway frozen: a question hangs; a typed stop goes out at once and drops it
        os.kill(gateway.pid, signal.SIGSTOP)
        try:
            n_questions = len(questions)
            typed.publish(String(data="please fetch the crimson dice"))
            assert spin_until(lambda: any(q.get("text") == "please fetch the crimson dice"
                                          for q in questions[n_questions:]), 120)
            dice = next(q["id"] for q in questions[n_questions:] if q.get("text"))
            for i in range(12):   # more than the backlog holds, waiting behind that question
                typed.publish(String(data=f"fetch the azure orb {'please ' * i}"))
                spin_until(lambda: False, 0.02)
            assert spin_until(lambda: rejected("backlog") >= 1, 120), diag.get(
                "teleop: text_command")
            typed.publish(String(data="stop"))
            assert spin_until(lambda: any(c.intent == "stop" for c in commands), 120)
            # the question to the cloud was still unanswered when the stop went out
            assert not any(a.get("id") == dice for a in answers)
            # the question and everything waiting behind it are dropped by the stop
            assert spin_until(lambda: rejected("stopped") >= 2, 120), diag.get(
                "teleop: text_command")
            assert "rejected.internal" not in diag.get("teleop: command_text", {}), diag
        finally:
            os.kill(gateway.pid, signal.SIGCONT)
        # the gateway answers the dropped question late: nothing moves
        assert spin_until(lambda: any(a.get("id") == dice for a in answers), 120)
        typed.publish(String(data="go home"))
        assert spin_until(lambda: any(c.intent == "home" for c in commands), 120)
        assert [c.target_description for c in picks()] == ["blue sphere"]

        # 3. the cloud down: the paraphrase is rejected with the reason; a stop still goes out
        cloud.kill()
        cloud.wait()
        assert spin_until(lambda: diag.get("cloud_gateway: cloud link", {}).get("link")
                          == "down", 120)
        typed.publish(String(data="fetch the azure orb"))
        assert spin_until(lambda: rejected("cloud") >= 1, 120), diag.get("teleop: text_command")
        stops = sum(c.intent == "stop" for c in commands)
        typed.publish(String(data="stop"))
        assert spin_until(lambda: sum(c.intent == "stop" for c in commands) > stops, 120)
        assert [c.target_description for c in picks()] == ["blue sphere"]
        assert int(diag["teleop: cloud lexicon"].get("answers.unreachable", 0)) >= 1
        assert spin_until(lambda: "could not map 'fetch the azure orb': cloud unreachable"
                          in log.read_text(), 60), log.read_text()[-3000:]
    finally:
        for p in (teleop, gateway, cloud):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in (teleop, gateway, cloud):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        ex.shutdown()
        node.destroy_node()
    assert teleop.returncode == 0, log.read_text()[-3000:]
