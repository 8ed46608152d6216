"""Synonym families for the command lexicon's tuning and its held-out evaluation.

A family is a register of words for our concepts (gemstones for colours, toys for shapes,
...). The lexicon's thresholds are chosen on the TUNING families; the HELD_OUT families are
never looked at until the thresholds are fixed, so their score says how the lexicon does on
words nobody tuned it for. NEGATIVE words must stay unknown (a command naming them is refused,
not turned into a pick of something else). Commands are composed from a family's words with
the command forms below (``family_commands``).
"""

from __future__ import annotations

import itertools

import numpy as np

# family -> {canonical word: (words of this family)}
COLOUR_FAMILIES = {
    "paints": {"red": ("vermillion", "scarlet"), "green": ("emerald",), "blue": ("cobalt",),
               "yellow": ("canary",), "purple": ("violet",), "orange": ("tangerine",)},
    "shades": {"red": ("maroon",), "green": ("forest",), "blue": ("navy",),
               "yellow": ("mustard",), "purple": ("plum",), "orange": ("pumpkin",)},
    "gems": {"red": ("ruby",), "green": ("jade",), "blue": ("sapphire",), "yellow": ("gold",),
             "purple": ("amethyst",), "orange": ("amber",)},
    "fruit": {"red": ("cherry", "strawberry"), "green": ("lime",), "blue": ("blueberry",),
              "yellow": ("lemon", "banana"), "purple": ("grape",), "orange": ("apricot",)},
    "sky and flowers": {"red": ("crimson",), "blue": ("azure",), "purple": ("lilac", "lavender"),
                        "yellow": ("sunflower",), "green": ("grass",)},
}
SHAPE_FAMILIES = {
    "geometry": {"cube": ("cuboid",), "cylinder": ("rod",), "sphere": ("globe",)},
    "containers": {"cube": ("crate",), "cylinder": ("canister",)},
    "toys": {"cube": ("dice", "brick"), "cylinder": ("drum",), "sphere": ("marble", "orb")},
    "kitchen": {"cylinder": ("jar", "tin"), "sphere": ("bead",), "cube": ("carton",)},
    "everyday": {"cube": ("parcel", "chest"), "cylinder": ("barrel", "pipe"),
                 "sphere": ("pellet", "bubble")},
}
VERB_FAMILIES = {
    "fetching": {"pick": ("fetch", "collect")},
    "grasping": {"pick": ("grasp", "clutch")},
    "taking": {"pick": ("retrieve", "seize", "snatch", "grip")},
    "handing": {"pick": ("hand", "pass", "give")},
    "bringing": {"pick": ("bring", "throw", "toss")},
}
TUNING = ("paints", "shades", "geometry", "containers", "everyday", "fetching", "grasping",
          "bringing")
HELD_OUT = ("gems", "fruit", "sky and flowers", "toys", "kitchen", "taking", "handing")

# Words that name none of our concepts (must stay unknown). "bottle" was one until the dictionary
# came: WordNet's bottle is "typically cylindrical", as its jar is "usually cylindrical" (a
# held-out cylinder word); a word for a cylindrical thing is no negative, "knife" took its place.
NEGATIVE_NOUNS = {"tuning": ("apple", "table", "cup", "phone", "book", "chair", "knife", "door"),
                  "held_out": ("laptop", "dog", "shoe", "plate", "bowl", "pen", "spoon", "mug")}
NEGATIVE_VERBS = {"tuning": ("open", "eat", "wash", "read"),
                  "held_out": ("close", "clean", "cook", "write")}
NEGATIVE_COLOURS = {"tuning": ("grey", "white", "teal"), "held_out": ("black", "silver", "beige")}
# Verbs with the speaker as recipient that hand nothing over ("show me the red cube").
NEGATIVE_RECIPIENT_VERBS = {"tuning": ("show", "tell"),
                            "held_out": ("ask", "draw", "teach", "remind", "sing")}

FORMS = ("{verb} the {colour} {noun}", "{verb} that {colour} {noun}", "the {size} {colour} {noun}",
         "{verb} the {noun} that is {colour}", "please {verb} the {colour} {noun}")
VERB_FORMS = {v: f"{v} me" for v in ("hand", "pass", "give", "bring", "throw", "toss")}
SIZES = ("little", "small", "big")
KNOWN = {"colour": {c: (c,) for c in ("red", "green", "blue", "yellow", "purple", "orange")},
         "shape": {"cube": ("box", "block"), "cylinder": ("cylinder",), "sphere": ("ball",)},
         "verb": {"pick": ("pick up", "grab", "take")}}


def _words(families: dict, names) -> list[tuple[str, str]]:
    """(word, canonical) of the families ``names``."""
    return [(w, c) for n in names if n in families for c, ws in families[n].items() for w in ws]


def family_commands(names, rng: np.random.Generator, per_word: int = 4
                    ) -> list[tuple[str, str, str]]:
    """(command, expected colour, expected shape) pick commands in which every word of the
    families ``names`` appears ``per_word`` times, the other slots filled with known words."""
    colours, shapes, verbs = (_words(COLOUR_FAMILIES, names), _words(SHAPE_FAMILIES, names),
                              _words(VERB_FAMILIES, names))
    known = {k: [(w, c) for c, ws in v.items() for w in ws] for k, v in KNOWN.items()}
    out = []
    for slot, words in (("colour", colours), ("noun", shapes), ("verb", verbs)):
        for (word, canon), _ in itertools.product(words, range(per_word)):
            pick = {s: known[k][rng.integers(len(known[k]))]
                    for s, k in (("colour", "colour"), ("noun", "shape"), ("verb", "verb"))}
            pick[slot] = (word, canon)
            verb = VERB_FORMS.get(pick["verb"][0], pick["verb"][0])
            form = FORMS[rng.integers(len(FORMS))]
            text = form.format(verb=verb, colour=pick["colour"][0], noun=pick["noun"][0],
                               size=SIZES[rng.integers(len(SIZES))])
            out.append((text, pick["colour"][1], pick["noun"][1]))
    return out


def negative_commands(half: str) -> list[str]:
    """Commands of the ``half`` ("tuning" / "held_out") negative words that are no pick of
    anything: unknown objects, unknown verbs, colours with no hue of ours."""
    out = [f"pick up the red {n}" for n in NEGATIVE_NOUNS[half]]
    out += [f"{v} the red cube" for v in NEGATIVE_VERBS[half]]
    out += [f"pick up the {c} cube" for c in NEGATIVE_COLOURS[half]]
    out += [f"{v} me the red cube" for v in NEGATIVE_RECIPIENT_VERBS[half]]
    return out


def held_out_command(rng: np.random.Generator, shape: str, colour: str) -> str:
    """A pick command for a ``colour`` ``shape`` object in which each of verb, colour and noun
    is, with probability 1/2, a word of the HELD_OUT families (else a known word)."""
    def word(families, kind, canon):
        held = [w for w, c in _words(families, HELD_OUT) if c == canon]
        known = KNOWN[kind][canon]
        pool = held if held and rng.random() < 0.5 else known
        return pool[rng.integers(len(pool))]

    verb = word(VERB_FAMILIES, "verb", "pick")
    text = FORMS[rng.integers(len(FORMS))].format(
        verb=VERB_FORMS.get(verb, verb), colour=word(COLOUR_FAMILIES, "colour", colour),
        noun=word(SHAPE_FAMILIES, "shape", shape), size=SIZES[rng.integers(len(SIZES))])
    return text
