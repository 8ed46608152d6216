"""The one error type every conversion raises for malformed input."""

from ..core.errors import InputError


class ConversionError(InputError):
    """A ROS message (or array destined for one) is malformed: ``field`` names the offending
    field, ``reason`` says what was wrong and what is allowed."""


def require(condition: bool, field: str, reason: str) -> None:
    """Raise :class:`ConversionError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise ConversionError(field, reason)
