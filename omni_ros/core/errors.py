"""The one error type for input that breaks a documented bound, raised anywhere from a ROS
conversion to a modality's input window. Nodes count it on /diagnostics under ``field``."""


class InputError(ValueError):
    """An input is malformed or out of bounds.

    Attributes:
        field: dotted name of the offending field, e.g. ``"step"``, ``"pads[1].forces"`` or
            ``"header.stamp"``.
        reason: what was wrong and what is allowed, in plain words.
    """

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def require(condition: bool, field: str, reason: str) -> None:
    """Raise :class:`InputError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise InputError(field, reason)
