"""What an operator command does to perception's state (no ROS; the perception node hands each
``OperatorCommand`` here).

  pick / move          ground the target object (text + clicked point; "hot" / "cold" filter
                       by the thermal camera) - the scene then carries its id; refused when
                       nothing in view fits the description ("no red cube in view")
  place with a point   the place point (the target object stays: it is the held one)
  stop / home          forget target and point
  anything else        nothing (e.g. place without a point: put down where it is)

A clicked point must be in the perception frame (there is no tf lookup): otherwise the command
is rejected, and the reason says which frame was expected.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import OperatorCommand

NO_OBJECT = ("", "here", "there", "it")   # descriptions that name no object


@dataclass
class CommandOutcome:
    action: str       # "target", "refused", "place", "cleared", "none" or "rejected"
    detail: str       # target id, or the reason for a refusal ("no red cube in view") or rejection


def apply_command(pipe, cmd: OperatorCommand, now_ns: int, frame_id: str) -> CommandOutcome:
    """Apply ``cmd`` to ``pipe`` (a :class:`~.pipeline.Perception`) at ``now_ns``."""
    if cmd.point is not None and cmd.point_frame not in ("", frame_id):
        return CommandOutcome("rejected", f"point in {cmd.point_frame!r}, expected {frame_id!r} "
                                          "(no tf: only the perception frame is supported)")
    if cmd.intent == "place" and cmd.point is not None:
        pipe.target_point = cmd.point
        return CommandOutcome("place", pipe.target_id)
    if cmd.intent in ("pick", "move"):
        desc = "" if cmd.target_description in NO_OBJECT else cmd.target_description
        target = pipe.set_target(desc, cmd.point, now_ns)
        return CommandOutcome("refused", pipe.refusal) if pipe.refusal else \
            CommandOutcome("target", target)
    if cmd.intent in ("stop", "home"):
        pipe.target_id, pipe.target_point = "", None
        return CommandOutcome("cleared", "")
    return CommandOutcome("none", "")
