"""Pronunciation variants for the grammar recogniser: the words a JSGF grammar uses, and
alternative (non-rhotic) pronunciations added to a pocketsphinx dictionary (CMU phone set)."""

from __future__ import annotations

import re

_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())  # CMU phone set


def non_rhotic(phones: str) -> str:
    """``phones`` (CMU phone set, as in the recogniser's dictionary) as a non-rhotic speaker
    (southern British, Australian, ...) says them: no "r" unless a vowel follows. ER before a
    consonant or at the end becomes AH ("purple" P AH P AH L, "cylinder" ... D AH); EH/UH/AY/AW
    + R ends in AH ("there" DH EH AH); after AA/AO/... the R is dropped ("orange" keeps its R: a
    vowel follows). IY/IH + R stays: with "here" as HH IH AH, gb_female's recorded "put it here"
    fitted 1-1.6 per frame worse (and "sphere" as S F IH AH competes with it)."""
    p, out = phones.split(), []
    for i, ph in enumerate(p):
        vowel_next = i + 1 < len(p) and p[i + 1] in _VOWELS
        if ph == "ER" and not vowel_next:
            out.append("AH")
        elif ph == "R" and not vowel_next and out and out[-1] in _VOWELS - {"IY", "IH"}:
            if out[-1] in ("EH", "UH", "AY", "AW"):
                out.append("AH")
        else:
            out.append(ph)
    return " ".join(out)


def grammar_words(grammar: str) -> list[str]:
    """The words a JSGF grammar can produce (its rule bodies less rule references), sorted."""
    words = set()
    for line in grammar.splitlines():
        if "=" in line and not line.startswith("#"):
            words.update(re.findall(r"[a-z']+", re.sub(r"<[^>]*>", " ", line.split("=", 1)[1])))
    return sorted(words)


def add_pronunciations(decoder, words, variant) -> list[tuple[str, str]]:
    """Add ``variant(p)`` of every dictionary pronunciation p of each of ``words`` to the
    pocketsphinx ``decoder``'s dictionary as an alternative ("word(3)"), where it is new;
    returns the (entry, phones) added. Call before adding the grammar that uses them."""
    added = []
    for word in words:
        prons, i = [decoder.lookup_word(word)], 2
        while (alt := decoder.lookup_word(f"{word}({i})")) is not None:
            prons.append(alt)
            i += 1
        prons = [p for p in prons if p is not None]
        for phones in sorted({variant(p) for p in prons} - set(prons)):
            entry = f"{word}({i})"
            decoder.add_word(entry, phones, False)
            added.append((entry, phones))
            i += 1
    return added
