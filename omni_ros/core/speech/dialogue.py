"""Talking back to the operator, without ROS: what the robot says it understood, the "did you
mean ...?" question for a voice command it is unsure of, the operator's yes / no, and which
microphone audio is the robot's own voice.

    d = Dialogue(confirm_below=0.7, timeout_s=8.0)
    if d.should_ask(cmd):                       # a voice command under 0.7 confidence
        say(d.ask(made, text, now_ns))          # "did you mean: pick up the red cube?"
    ...
    made, phrase = d.answer("yes", now_ns)      # the held command (phrase "" on yes)

A stop is never held and never asked about: it is published at once and drops any question
(:meth:`Dialogue.cancel`). Nothing the robot says contains a stop word (:func:`check_phrase`,
a test goes through every phrase): its own voice heard back can never be a stop, so a stop
heard while it talks is always the operator's. Times are integer nanoseconds of the node's
clock; durations in seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..types import OperatorCommand
from .commands import SHORT_STOPS, VERBS

NS_PER_S = 1_000_000_000
YES = frozenset({"yes", "yeah", "yep", "yup", "correct", "right", "affirmative"})
NO = frozenset({"no", "nope", "wrong", "negative"})
FILLERS = frozenset({"please", "thanks", "thank", "you", "that's", "thats", "it's", "its", "is",
                     "that", "sir", "okay", "ok"})
# words the robot never says: the spoken stops and the words a short utterance stops with
NEVER_SAID = frozenset(VERBS["stop"]) | SHORT_STOPS


def reply_of(text: str) -> str | None:
    """"yes" or "no" if ``text`` is a short answer (one answer word, at most three words in
    all, the rest polite fillers: "yes please", "no that's wrong"), else None ("yes no",
    "yes pick up the cube")."""
    words = [w.strip(".,!?'\"") for w in text.lower().split()]
    words = [w for w in words if w]
    if not 1 <= len(words) <= 3:
        return None
    kinds = {"yes" if w in YES else "no" if w in NO else "" if w in FILLERS else "other"
             for w in words}
    kinds.discard("")
    return next(iter(kinds)) if len(kinds) == 1 and "other" not in kinds else None


def describe(cmd: OperatorCommand) -> str:
    """What the robot says it will do for ``cmd`` ("picking up the red cube")."""
    what = cmd.target_description or "it"
    where = " at the point" if cmd.point is not None else ""
    phrase = {"pick": f"picking up the {what}" if cmd.target_description else "picking it up",
              "place": f"putting it down{where or ' there'}",
              "move": f"moving{where or ' there'}",
              "home": "going home",
              "stop": "standing by"}.get(cmd.intent, cmd.intent)
    return check_phrase(f"okay, {phrase}")


def check_phrase(phrase: str) -> str:
    """``phrase`` if it has no word of NEVER_SAID (ValueError otherwise)."""
    said = {w.strip(".,!?:;") for w in phrase.lower().split()} & NEVER_SAID
    if said:
        raise ValueError(f"the robot must never say {sorted(said)}: heard back, its own voice "
                         f"would be a stop ({phrase!r})")
    return phrase


@dataclass
class Dialogue:
    """At most one voice command waits for the operator's yes / no.
    ``confirm_below``: voice commands (not stops) with confidence under this are asked about
    (0: never); ``timeout_s``: a question not answered within this is dropped [s]."""

    confirm_below: float = 0.0
    timeout_s: float = 8.0

    def __post_init__(self):
        self.pending: tuple[tuple, str, int] | None = None  # (make_command result, text, deadline)

    @property
    def waiting(self) -> bool:
        return self.pending is not None

    def should_ask(self, cmd: OperatorCommand) -> bool:
        return cmd.source == "voice" and cmd.intent != "stop" and cmd.confidence < self.confirm_below

    def ask(self, made: tuple, text: str, now_ns: int) -> str:
        """Hold ``made`` (make_command's result for ``text``) until an answer; the question to
        say. A question still open is replaced."""
        self.pending = (made, text, now_ns + int(self.timeout_s * NS_PER_S))
        return check_phrase(f"did you mean: {text}?")

    def answer(self, reply: str, now_ns: int) -> tuple[tuple | None, str]:
        """(the held command to go on with, or None; what to say) for ``reply`` "yes" / "no"."""
        if self.pending is None:
            return None, ""
        made, text, _ = self.pending
        self.pending = None
        if reply == "yes":
            return made, ""
        return None, check_phrase(f"okay, not {text}")

    def cancel(self) -> bool:
        """Drop the open question (a stop, or a new command, came); True if there was one."""
        had, self.pending = self.pending is not None, None
        return had

    def tick(self, now_ns: int) -> str:
        """What to say when the open question has just timed out, else "" (a clock that went
        back by more than the timeout, a sim reset, times it out too)."""
        if self.pending is None or (now_ns < self.pending[2] and
                                    self.pending[2] - now_ns <= self.timeout_s * NS_PER_S):
            return ""
        text = self.pending[1]
        self.pending = None
        return check_phrase(f"no answer: {text} dropped")


class OwnVoice:
    """When the robot's voice is in the microphone: each phrase from when it was sent for
    ``duration_s`` plus ``margin_s`` (delivery, playback and echo) [s]. Keeps the last few."""

    def __init__(self, margin_s: float = 0.5, keep: int = 16):
        self.margin_ns = int(margin_s * NS_PER_S)
        self.spans: deque = deque(maxlen=keep)

    def said(self, start_ns: int, duration_s: float) -> None:
        self.spans.append((start_ns, start_ns + int(duration_s * NS_PER_S) + self.margin_ns))

    def heard(self, sent_ns: int, start_ns: int, end_ns: int) -> None:
        """The phrase sent at ``sent_ns`` was found in the microphone from ``start_ns`` to
        ``end_ns`` (:mod:`.echo`): its span is that, plus the margin (room echo)."""
        self.spans = deque(((start_ns, end_ns + self.margin_ns) if a == sent_ns else (a, b)
                            for a, b in self.spans), maxlen=self.spans.maxlen)

    def forget(self, sent_ns: int) -> None:
        """The phrase sent at ``sent_ns`` was cancelled out of the microphone: not in it."""
        self.spans = deque(((a, b) for a, b in self.spans if a != sent_ns),
                           maxlen=self.spans.maxlen)

    def rewind(self, now_ns: int) -> None:
        """Forget the phrases said after ``now_ns``: the clock went back (a sim reset), and
        they would cover the new timeline's speech."""
        while self.spans and self.spans[-1][0] > now_ns:
            self.spans.pop()

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        """Does speech from ``start_ns`` to ``end_ns`` overlap the robot's voice?"""
        return self.until(start_ns, end_ns) is not None

    def until(self, start_ns: int, end_ns: int) -> int | None:
        """When the robot's voice that overlaps speech from ``start_ns`` to ``end_ns`` ends
        (margin included), or None if none does."""
        ends = [b for a, b in self.spans if start_ns <= b and a <= end_ns]
        return max(ends) if ends else None
