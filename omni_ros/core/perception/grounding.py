"""Which perceived object an operator command means: the command's text latent against each
object's latent in the shared space, plus an optional 3-D point (base frame, metres).

score_i = (text . latent_i) / temperature - |p_i - point|^2 / (2 sigma^2)

An object without a latent (seen by the lidar only) gets no text evidence (0); without a point
only the text counts, without text only the point. A temperature word ("the hot cube") is not
text evidence but a filter: only objects whose measured surface temperature (thermal camera)
is in that band are candidates; with nothing else said, the most extreme one is meant. Colour and
shape words are filters too: "the red cube" never means a red sphere; when nothing in view fits
the description, the command is refused rather than mapped to the nearest object.
"""

from __future__ import annotations

import numpy as np

from ..labels import COLOURS, SHAPES, TEMPERATURES, temperature_label
from ..types import ObjectEstimate

TEXT_TEMPERATURE = 0.1   # cosine similarity -> logit scale
POINT_SIGMA_M = 0.05     # how far from the clicked point an object may plausibly be [m]


def grounding_scores(objects: list[ObjectEstimate], text_latent: np.ndarray | None = None,
                     point: np.ndarray | None = None, temperature: float = TEXT_TEMPERATURE,
                     sigma_m: float = POINT_SIGMA_M) -> np.ndarray:
    """One score per object (higher = more likely the one meant)."""
    scores = np.zeros(len(objects))
    if text_latent is not None:
        q = np.asarray(text_latent, float)
        scores += np.array([float(q @ o.latent) if o.latent is not None else 0.0
                            for o in objects]) / temperature
    if point is not None:
        d = np.array([np.linalg.norm(o.position - np.asarray(point, float)) for o in objects])
        scores -= d ** 2 / (2 * sigma_m ** 2)
    return scores


def ground(objects: list[ObjectEstimate], text_latent: np.ndarray | None = None,
           point: np.ndarray | None = None) -> int:
    """Index of the object meant, -1 if there are no objects."""
    if not objects:
        return -1
    return int(np.argmax(grounding_scores(objects, text_latent, point)))


def split_temperature(description: str) -> tuple[str | None, str]:
    """("hot" / "cold" / None, the rest of the description): "hot red cube" -> ("hot", "red cube")."""
    words = description.split()
    temp = next((w for w in words if w in TEMPERATURES), None)
    return temp, " ".join(w for w in words if w != temp)


def temperature_candidates(objects: list[ObjectEstimate], temperature: str) -> list[int]:
    """Indices of the objects in the ``temperature`` band, most extreme first."""
    idx = [i for i, o in enumerate(objects) if temperature_label(o.temperature_c) == temperature]
    return sorted(idx, key=lambda i: -objects[i].temperature_c if temperature == "hot"
                  else objects[i].temperature_c)


def named_attributes(description: str) -> dict[str, str]:
    """The colour and shape words of a description: "red cube" -> {"color": "red", "shape": "cube"}."""
    words = description.split()
    out = {}
    for attr, vocab in (("color", COLOURS), ("shape", SHAPES)):
        named = next((w for w in words if w in vocab), None)
        if named:
            out[attr] = named
    return out


def attribute_candidates(objects: list[ObjectEstimate], description: str,
                         keep: list[int] | None = None, pointed: bool = False) -> list[int]:
    """Indices (among ``keep``, default all) of the objects whose colour and shape fit the
    words of ``description``. An attribute the sensors could not tell (lidar-only: "") fits
    only when the operator also ``pointed`` at the object: a description alone never picks an
    object nobody has seen the colour and shape of."""
    named = named_attributes(description)
    keep = list(range(len(objects))) if keep is None else keep
    unknown_fits = ("",) if pointed else ()
    return [i for i in keep
            if all(getattr(objects[i], a) in (*unknown_fits, v) for a, v in named.items())]
