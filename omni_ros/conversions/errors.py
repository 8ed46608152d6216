"""The one error type every conversion raises for malformed input."""


class ConversionError(ValueError):
    """A ROS message (or array destined for one) is malformed.

    Attributes:
        field: dotted name of the offending field, e.g. ``"step"`` or ``"pads[1].forces"``.
        reason: what was wrong and what is allowed, in plain words.
    """

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def require(condition: bool, field: str, reason: str) -> None:
    """Raise :class:`ConversionError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise ConversionError(field, reason)
