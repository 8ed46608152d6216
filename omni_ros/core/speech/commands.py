"""The operator command language: one vocabulary for the typed-text parser and the speech grammar.

    parse_command("Pick up the red block, please!")
    # ParsedCommand(intent='pick', target_description='red cube', colour='red', shape='cube',
    #               deictic=False, confidence=1.0)
    parse_command("put it down there")   # intent 'place', target 'here', deictic True
    parse_command("grab the hot one")    # intent 'pick', target 'hot', temperature 'hot'

    parse_command("what time is it")     # None: not a command

Intents are those of ``TeleopCommand`` (types.INTENTS). ``deictic`` means the command refers to
the operator's pointed location (here / there / this / that); the node pairs it with the clicked
point. Shape and colour names are canonicalised to the model's SHAPES and COLOURS.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..labels import COLOURS, SHAPES, TEMPERATURES
from ..types import INTENTS

# Spoken / typed names of each canonical shape (the canonical name first).
SHAPE_WORDS = {"cube": ("cube", "block", "box"),
               "cylinder": ("cylinder", "can", "tube"),
               "sphere": ("sphere", "ball")}
# Typed only, left out of the speech grammar: the recogniser confuses "tube" with "cube" (in
# noise) and hears "it" as "the can" (measured: 10 dB accuracy 51 -> 63 %, clean 85 -> 89 %);
# a spoken "stop" during a motion was once heard as "drop it" (a stop must never become a place).
TYPED_ONLY = frozenset({"tube", "can", "drop"})
# Verbs of each intent. "pick" also takes a separate "up" ("pick it up"); place verbs take "down".
VERBS = {"pick": ("pick", "grab", "take", "lift", "get"),
         "place": ("put", "place", "drop", "set"),
         "move": ("move", "go"),
         "home": ("home",),
         "stop": ("stop", "halt", "freeze")}
# Typed words that also stop (never in the speech grammar, never learned by the lexicon):
# anything that might mean "stop" must not become a motion, and a negated command is no command.
TYPED_STOPS = frozenset("wait pause abort cease hold enough don't dont not never no".split())
# heard alone, these spoken words mean stop too (Whisper hears "halt" as "hold"); in a sentence
# they need not ("hold the door")
SHORT_STOPS = frozenset({"hold", "wait", "pause", "abort", "cease"}) & TYPED_STOPS
SIZES = frozenset("little small tiny big large huge".split())  # sizes: understood, not used
LOCATIONS = ("here", "there")        # deictic adverbs: the pointed location
DEMONSTRATIVES = ("this", "that")    # deictic determiners: the object at the pointed location
PRONOUN = "it"                       # the object already referred to (or held)
# Words that carry no meaning for the command; "can you" / "could you" are dropped as a pair.
FILLERS = frozenset("please the a an now then ok okay hey robot and to at over up down back just "
                    "me for one quickly slowly you kindly".split())
POLITE = frozenset("can could would will".split())
RELATIVE_FOLLOWERS = frozenset("is was looks has".split())  # "the ball that is red": not deictic

_SHAPE_OF = {w: s for s, words in SHAPE_WORDS.items() for w in words}
_SHAPE_OF.update({w + ("es" if w.endswith("x") else "s"): s for w, s in list(_SHAPE_OF.items())})
_INTENT_OF = {w: i for i, words in VERBS.items() for w in words}
DETERMINERS = frozenset("the a an this that".split())


@dataclass
class ParsedCommand:
    """A command in canonical form. ``target_description``: "red cube", "cube", "red" (colour
    only), "hot cube" / "hot" (a temperature first), "here" (pointed location only) or ""
    (none: "it", or no target); ``confidence`` in [0, 1] is the share of the words understood;
    ``temperature``: "hot" / "cold" when the command names one (the thermal camera's)."""

    intent: str
    target_description: str
    colour: str | None
    shape: str | None
    deictic: bool
    confidence: float
    temperature: str | None = None


def tokens(text: str) -> list[str]:
    """Lower-case words of ``text`` without punctuation ("can't" stays one word)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def _drop_polite(words: list[str]) -> list[str]:
    """Remove "can you" / "would you" ... so that "can" is left only as a shape word."""
    out, skip = [], False
    for i, w in enumerate(words):
        if skip:
            skip = False
            continue
        if w in POLITE and i + 1 < len(words) and words[i + 1] == "you":
            skip = True
            continue
        out.append(w)
    return out


def _known(w: str) -> bool:
    return (w in COLOURS or w in TEMPERATURES or w in _SHAPE_OF or w in _INTENT_OF
            or w in LOCATIONS or w in DEMONSTRATIVES or w == PRONOUN or w in FILLERS
            or w in RELATIVE_FOLLOWERS or w in SIZES or w in POLITE)


def command_words(text: str) -> list[str]:
    """The words of ``text`` the parser reads: its tokens without "can you" / "would you" ..."""
    return _drop_polite(tokens(text))


def is_known(word: str) -> bool:
    """Whether ``word`` is in the command vocabulary (read without a lexicon)."""
    return _known(word)


def normalise(words: list[str], lexicon) -> tuple[list[str], int] | None:
    """``words`` with each unknown one the lexicon can place replaced by its canonical word (a
    colour before another word or after "is" / "looks" ...; a verb where the command has no
    verb or object yet, a pick-only one when "me" follows it; a shape noun after a determiner,
    colour, size or temperature), and how many were replaced; None when a word names a colour
    with no hue of ours ("the grey cube": not a cube of any colour)."""
    out, mapped = [], 0
    for i, w in enumerate(words):
        new = None
        if not _known(w):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            attributive = nxt and (nxt not in FILLERS or nxt == "one")  # "the ruby ball"
            predicative = i > 0 and words[i - 1] in RELATIVE_FOLLOWERS  # "the ball that is ruby"
            if lexicon.is_colour_word(w) and (attributive or predicative):
                new = lexicon.colour(w)
                if new is None:
                    return None
            else:
                before = [x for x in out if x not in FILLERS and x not in SIZES and x not in POLITE]
                prev = next((x for x in reversed(out) if x not in SIZES), "")
                if not before:
                    new = lexicon.verb(w, recipient=nxt == "me")
                elif prev in DETERMINERS or prev in COLOURS or prev in TEMPERATURES \
                        or prev in SIZES or prev in FILLERS:
                    new = lexicon.shape(w[:-1] if w.endswith("s") and len(w) > 3 else w)
        out.append(new or w)
        mapped += new is not None
    return out, mapped


DEFAULT = object()  # parse_command's lexicon argument: the shared default_lexicon()


def _is_stop(words: list[str]) -> bool:
    return any(_INTENT_OF.get(w) == "stop" or w in TYPED_STOPS for w in words)


def needs_lexicon(text: str) -> bool:
    """Whether parsing ``text`` would consult a lexicon: it has a word outside the vocabulary
    and is not a stop (a stop is decided from the vocabulary alone)."""
    words = _drop_polite(tokens(text))
    return not _is_stop(words) and not all(_known(w) for w in words)


def parse_command(text: str, lexicon=DEFAULT) -> ParsedCommand | None:
    """The command in ``text`` (typed or recognised), or None if it is not one: no verb, a verb
    without a target it needs ("pick up", "go"), or an unknown object ("the green apple").
    Any stop word ("stop", "halt", "freeze", or a typed "wait", "hold", "don't", ...) anywhere
    makes it a stop command. Words outside the vocabulary go through ``lexicon``
    (core.speech.lexicon; default: default_lexicon(); None: the vocabulary only); a naming of
    the object without a verb ("the little red box") is a pick when it names a shape."""
    words = _drop_polite(tokens(text))
    if not words:
        return None
    if _is_stop(words):
        return ParsedCommand("stop", "", None, None, False, 1.0)
    lexicon = default_lexicon() if lexicon is DEFAULT else lexicon
    mapped = 0
    if lexicon is not None and not all(_known(w) for w in words):
        normalised = normalise(words, lexicon)
        if normalised is None:
            return None
        words, mapped = normalised
    colour = shape = temperature = None
    intent, deictic, pronoun, known = None, False, False, 0
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in COLOURS:
            colour = colour or w
            if nxt and nxt not in _SHAPE_OF and nxt not in FILLERS and nxt not in _INTENT_OF \
                    and nxt not in LOCATIONS and nxt not in RELATIVE_FOLLOWERS \
                    and nxt not in TEMPERATURES and nxt not in SIZES:
                return None  # a colour naming something we do not know ("green apples")
        elif w in TEMPERATURES:
            temperature = temperature or w
        elif w in _SHAPE_OF:
            shape = shape or _SHAPE_OF[w]
        elif w in _INTENT_OF:
            intent = intent or _INTENT_OF[w]
        elif w in LOCATIONS:
            deictic = True
        elif w in DEMONSTRATIVES:
            deictic = deictic or nxt not in RELATIVE_FOLLOWERS
        elif w == PRONOUN:
            pronoun = True
        elif w not in FILLERS and w not in RELATIVE_FOLLOWERS and w not in SIZES:
            continue
        known += 1
    if "home" in words and intent in (None, "move", "home"):
        intent = "home"
    if intent is None and shape is not None and not pronoun and all(_known(w) for w in words):
        intent = "pick"  # "the little red box"
    if intent is None:
        return None
    has_object = bool(colour or shape or pronoun or deictic or temperature)
    if intent in ("pick", "move") and not has_object:
        return None
    if intent == "place" and not (has_object or "down" in words):
        return None
    if intent == "home":
        colour = shape = temperature = None
        deictic = False
    target = " ".join(x for x in (temperature, colour, shape) if x) or ("here" if deictic else "")
    confidence = (known - 0.5 * mapped) / len(words)  # a mapped word counts half
    return ParsedCommand(intent, target, colour, shape, deictic, confidence, temperature)


@functools.lru_cache(maxsize=1)
def default_lexicon():
    """The shared lexicon of typed commands: shape and verb anchors from this vocabulary, the
    dictionary and the sentence embedding when the optional extra is installed (else colours
    only)."""
    from ..embeddings import sentence_model_available
    from .dictionary import available as dictionary_available
    from .lexicon import Lexicon
    verbs = {i: tuple(v for v in VERBS[i] if v not in TYPED_ONLY) for i in ("pick", "place", "move")}
    return Lexicon(shapes={s: SHAPE_WORDS[s] for s in SHAPES}, verbs=verbs,
                   use_embeddings=sentence_model_available(),
                   use_dictionary=dictionary_available())


def _alt(items) -> str:
    return " | ".join(items)


def jsgf_grammar() -> str:
    """A JSGF grammar (public rule ``<command>``) of the spoken commands, generated from the
    vocabulary above (less TYPED_ONLY): pick / place / move / home / stop sentences with
    optional "the", temperature (hot / cold), colour, shape, here / there / this (one) / that (one), "it" and "please"."""
    place_verbs = _alt([v for v in VERBS["place"] if v not in TYPED_ONLY])
    move_verbs = _alt(VERBS["move"])
    pick_verbs = _alt(["pick up"] + [v for v in VERBS["pick"] if v != "pick"])
    shape_words = sorted({w for words in SHAPE_WORDS.values() for w in words} - TYPED_ONLY)
    rules = {
        "colour": _alt(COLOURS),
        "temperature": _alt(TEMPERATURES),
        "shape": _alt(shape_words),
        "location": f"[over] ({_alt(LOCATIONS)})",
        "object": (f"[the] [<temperature>] <colour> [<shape> | one] | [the] [<temperature>] <shape> | "
                   f"[the] <temperature> [<shape> | one] | "
                   f"({_alt(DEMONSTRATIVES)}) [<colour>] [<shape> | one] | {PRONOUN}"),
        "pick": f"({pick_verbs}) <object> | pick <object> up",
        "place": (f"({place_verbs}) <object> [down] [<location>] | "
                  f"({place_verbs}) down <object> [<location>]"),
        "move": f"({move_verbs}) ([to] <object> | <location>)",
        "home": f"[{move_verbs}] ({_alt(VERBS['home'])})",
        "stop": _alt(VERBS["stop"]),
    }
    lines = ["#JSGF V1.0;", "", "grammar omni_commands;", ""]
    lines += [f"<{name}> = {body};" for name, body in rules.items()]
    lines.append(f"public <command> = [please] (<{'> | <'.join(INTENTS)}>) [please];")
    return "\n".join(lines) + "\n"
