"""Asking the cloud from a ROS node through its robot's ``cloud_gateway`` (plain Python, no ROS).

The gateway reads questions as JSON on /omni/cloud/ask and answers every one on
/omni/cloud/answer with the question's ``id`` (see :mod:`omni_ros.nodes.cloud_gateway`). Every
node on the robot sees every answer, so each :class:`CloudAsker` gives its questions ids of its
own (a random prefix) and takes only answers with those ids.

:meth:`CloudAsker.ask` blocks the calling thread (a node's worker, never its executor) until the
answer with its id arrives, its deadline passes or :meth:`CloudAsker.cancel` is called;
:meth:`CloudAsker.on_answer` takes every message of the answer topic (the executor thread: it
only matches ids and wakes the asker). A question is sent again once, half-way to its deadline,
when no answer has come (a question sent before the gateway's subscription was matched is lost;
a second answer to the same id is ignored).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

MAX_ANSWER = 1 << 20    # characters of an answer message read; longer ones are ignored
# statuses of an answer: the gateway's, and the asker's own
GATEWAY_STATUSES = ("ok", "timeout", "unreachable", "error", "busy")
NO_ANSWER, CANCELLED, NO_GATEWAY = "no_answer", "cancelled", "no_gateway"


@dataclass
class Answer:
    """``status``: ok, timeout, unreachable, error, busy (the gateway's), no_answer (nothing
    within the asker's deadline), cancelled or no_gateway; ``answer``: the cloud's JSON
    object when ok; ``error``: why not; ``elapsed_s``: from asking to the answer."""

    status: str
    answer: dict | None = None
    error: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def reason(self) -> str:
        """One line for logs and rejections, e.g. "cloud unreachable (the cloud link is down)"."""
        what = {"ok": "cloud answered", "timeout": "cloud timeout",
                "unreachable": "cloud unreachable", "error": "cloud error",
                "busy": "cloud gateway busy", NO_ANSWER: "no answer from the cloud gateway",
                CANCELLED: "cancelled", NO_GATEWAY: "no cloud_gateway"}.get(self.status,
                                                                          self.status)
        return f"{what} ({self.error})" if self.error else what


@dataclass
class _Slot:
    sent_s: float
    answer: Answer | None = None
    resent: bool = False


class CloudAsker:
    """Questions to the cloud, matched to their answers by id. ``send(text)`` publishes one
    question (JSON) on /omni/cloud/ask; ``timeout_s``: the deadline of each question;
    ``ready()``: whether a gateway is there to ask (else the answer is ``no_gateway`` at once).
    Thread-safe. ``counts``: answers by status; ``ignored``: answers for other askers;
    ``malformed``: answer messages that were not JSON objects with an id."""

    def __init__(self, send: Callable[[str], None], timeout_s: float,
                 ready: Callable[[], bool] | None = None, name: str = "ask",
                 clock: Callable[[], float] = time.monotonic):
        self.send, self.timeout_s, self.ready, self.clock = send, timeout_s, ready, clock
        self.prefix = f"{name}-{os.getpid()}-{os.urandom(4).hex()}-"
        self.counts: dict[str, int] = {}
        self.ignored = self.malformed = self.late = 0
        self._next = 0
        self._slots: dict[str, _Slot] = {}
        self._cv = threading.Condition()

    def ask(self, question: str, **args) -> Answer:
        """Ask ``question`` with ``args`` and wait for its answer (at most ``timeout_s``)."""
        with self._cv:
            self._next += 1
            qid = f"{self.prefix}{self._next}"
            slot = self._slots[qid] = _Slot(self.clock())
        text = json.dumps({**args, "id": qid, "question": question})
        if self.ready is not None and not self.ready():
            answer = Answer(NO_GATEWAY, error="nothing subscribes to /omni/cloud/ask: is "
                            "cloud_gateway running on this robot?")
        else:
            self.send(text)
            answer = self._wait(qid, slot, text)
        with self._cv:
            self._slots.pop(qid, None)
            self.counts[answer.status] = self.counts.get(answer.status, 0) + 1
        return answer

    def _wait(self, qid: str, slot: _Slot, text: str) -> Answer:
        deadline = slot.sent_s + self.timeout_s
        with self._cv:
            while slot.answer is None:
                now = self.clock()
                if now >= deadline:
                    return Answer(NO_ANSWER, error=f"nothing within {self.timeout_s:g} s",
                                  elapsed_s=now - slot.sent_s)
                resend_at = slot.sent_s + self.timeout_s / 2
                if not slot.resent and now >= resend_at:
                    slot.resent = True
                    self._cv.release()     # publish without holding the lock
                    try:
                        self.send(text)
                    finally:
                        self._cv.acquire()
                    continue
                self._cv.wait((resend_at if not slot.resent else deadline) - now)
            return slot.answer

    def cancel(self) -> None:
        """Wake every waiting question with status ``cancelled`` (e.g. a stop came)."""
        with self._cv:
            for slot in self._slots.values():
                if slot.answer is None:
                    slot.answer = Answer(CANCELLED, error="a stop came",
                                         elapsed_s=self.clock() - slot.sent_s)
            self._cv.notify_all()

    def on_answer(self, data: str) -> bool:
        """One message of /omni/cloud/answer; True when it answered one of our questions."""
        if self.prefix not in data[:MAX_ANSWER]:   # someone else's (cheap: no JSON parse)
            with self._cv:
                self.ignored += 1
            return False
        try:
            msg = json.loads(data)
            qid = msg["id"]
            status = msg["status"]
            if status not in GATEWAY_STATUSES or not isinstance(qid, str):
                raise ValueError(status)
            answer = msg.get("answer") if status == "ok" else None
            if status == "ok" and not isinstance(answer, dict):
                raise ValueError("answer")
        except (ValueError, KeyError, TypeError):
            with self._cv:
                self.malformed += 1
            return False
        with self._cv:
            slot = self._slots.get(qid)
            if slot is None or slot.answer is not None:   # after its deadline, or a repeat
                self.late += 1
                return False
            slot.answer = Answer(status, answer, str(msg.get("error", "")),
                                 self.clock() - slot.sent_s)
            self._cv.notify_all()
        return True

    def stats(self) -> dict[str, int]:
        """Answers by status, plus ``ignored`` / ``late`` / ``malformed`` messages."""
        with self._cv:
            return {**{f"answers.{k}": v for k, v in sorted(self.counts.items())},
                    "ignored": self.ignored, "late": self.late, "malformed": self.malformed}
