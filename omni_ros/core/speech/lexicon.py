"""Words outside the command vocabulary, mapped onto it ("fetch the azure orb" -> pick, blue,
sphere), or left unknown.

* Colour words are grounded in colour, not in text: matplotlib's XKCD colour survey names 949
  colours with an sRGB value each ("azure" #069af3, "crimson" #8c000f, "lilac" #cea2fd); the word
  is the canonical colour (core.labels.COLOURS, their XKCD values) nearest in hue, if it is within
  ``hue_tolerance_deg``, saturated enough and not too dark to have a hue (``min_saturation``,
  ``min_value``). "teal" (between green and blue) and "grey" stay unknown.
* Shape nouns are looked up in a dictionary first (core.speech.dictionary: WordNet's senses of
  the word, the first of ``dictionary_senses`` that names one of our shapes decides: "dice" ->
  "a small cube ...", "drum" -> "... a hollow cylinder ..."). Nouns the dictionary does not
  settle, and verbs, go through the sentence embedding (core.embeddings): a noun in context
  "a {word}" against the known shape words, a verb in context "{word} it" against the known
  verbs of the motion intents; the best concept must beat the runner-up by ``noun_margin`` /
  ``verb_margin`` and reach ``min_similarity``. A verb whose recipient is the speaker ("pass me
  the ball") can only be a pick (handing over starts with picking up), with
  ``recipient_margin``. Both come with the optional extra; without it, only colours are mapped.
* Stop is never learned: its words are a fixed list in core.speech.commands (a word that might
  mean stop must not become a motion by similarity).

The thresholds are chosen on the tuning synonym families only (``omni-ros bench --suite
language``, core.speech.families) and the held-out families are reported.
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass

import numpy as np

from ..labels import COLOURS

NOUN_CONTEXT = "a {}"
VERB_CONTEXT = "{} it"


@functools.lru_cache(maxsize=1)
def colour_table() -> dict[str, tuple[float, float, float]]:
    """Single-word XKCD colour names -> sRGB in [0, 1]."""
    from matplotlib.colors import XKCD_COLORS, to_rgb
    return {name[5:]: to_rgb(hexcode) for name, hexcode in XKCD_COLORS.items()
            if " " not in name[5:] and "/" not in name[5:]}


def _hsv(word: str):
    rgb = colour_table().get(word)
    return None if rgb is None else colorsys.rgb_to_hsv(*rgb)


def _hue_gap(a: float, b: float) -> float:
    """Angle between two hues in [0, 1) [deg]."""
    d = abs(a - b) % 1.0
    return 360.0 * min(d, 1.0 - d)


@dataclass
class Lexicon:
    """Maps an unknown word to a canonical one (see the module docstring). ``shapes`` and
    ``verbs``: canonical name -> the known words of that concept (the anchors)."""

    shapes: dict[str, tuple[str, ...]]
    verbs: dict[str, tuple[str, ...]]
    hue_tolerance_deg: float = 35.0
    min_saturation: float = 0.2
    min_value: float = 0.2
    noun_margin: float = 0.08
    verb_margin: float = 0.08
    recipient_margin: float = 0.0
    min_similarity: float = 0.45
    dictionary_senses: int = 2
    use_embeddings: bool = True
    use_dictionary: bool = True

    def colour(self, word: str) -> str | None:
        """The canonical colour a colour word names, or None (not a colour, or no clear hue)."""
        hsv = _hsv(word)
        if hsv is None or hsv[1] < self.min_saturation or hsv[2] < self.min_value:
            return None
        gaps = {c: _hue_gap(hsv[0], _hsv(c)[0]) for c in COLOURS}
        best = min(gaps, key=gaps.get)
        return best if gaps[best] <= self.hue_tolerance_deg else None

    def is_colour_word(self, word: str) -> bool:
        """Whether ``word`` names a colour at all (mapped or not)."""
        return word in colour_table()

    def shape(self, word: str) -> str | None:
        """The canonical shape the noun ``word`` names, or None."""
        if self.use_dictionary:
            from .dictionary import noun_shape
            found = noun_shape(word, self.shapes, self.dictionary_senses)
            if found is not None:
                return found
        return self._nearest(word, NOUN_CONTEXT, self.shapes, self.noun_margin)

    def verb(self, word: str, recipient: bool = False) -> str | None:
        """The canonical verb (the first known verb of its intent) ``word`` means, or None.
        ``recipient``: the speaker receives the object ("hand me the box"): handing something
        over starts with picking it up, so only pick counts, with ``recipient_margin``."""
        margin = self.recipient_margin if recipient else self.verb_margin
        intent = self._nearest(word, VERB_CONTEXT, self.verbs, margin)
        if intent is None or (recipient and intent != "pick"):
            return None
        return self.verbs[intent][0]

    def scores(self, word: str, context: str, concepts: dict[str, tuple[str, ...]]
               ) -> list[tuple[str, float]]:
        """(concept, best cosine similarity of ``word`` in ``context`` to its words), best first."""
        anchors = _anchor_embeddings(context, tuple((k, tuple(v)) for k, v in concepts.items()))
        e = _embed((context.format(word),))[0]
        best = {k: float((a @ e).max()) for k, a in anchors.items()}
        return sorted(best.items(), key=lambda kv: -kv[1])

    def _nearest(self, word: str, context: str, concepts, margin: float) -> str | None:
        if not self.use_embeddings or not concepts:
            return None
        ranked = self.scores(word, context, concepts)
        (k, s1), s2 = ranked[0], (ranked[1][1] if len(ranked) > 1 else -1.0)
        return k if s1 >= self.min_similarity and s1 - s2 >= margin else None


@functools.lru_cache(maxsize=4096)
def _embed_one(text: str) -> np.ndarray:
    from ..embeddings import sentence_model
    return sentence_model().encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)[0]


def _embed(texts) -> np.ndarray:
    return np.stack([_embed_one(t) for t in texts])


@functools.lru_cache(maxsize=16)
def _anchor_embeddings(context: str, concepts) -> dict[str, np.ndarray]:
    return {k: _embed(tuple(context.format(w) for w in words)) for k, words in concepts}
