"""A lexicon that runs in another process (the cloud's), carried as its answers.

A robot without the sentence embedding (or with its ``lexicon`` off) cannot map "fetch the azure
orb" onto its vocabulary; the cloud can. The cloud parses the text with its lexicon, recording
every answer the lexicon gave (:class:`RecordingLexicon`), and sends them back with its parse
(:func:`explain`, the cloud's ``command`` answer). The robot then parses the same text with
*its own* parser and vocabulary, the lexicon replaced by those recorded answers
(:class:`AnsweredLexicon`): the cloud only says what an unknown word means; what the command is,
is decided on the robot, exactly as with a local lexicon. :func:`check_answer` refuses an
answer that maps a word onto something outside the vocabulary, that is not about the text
asked, or whose command the robot's own parse does not reproduce (another version's vocabulary).

Stops never get here: a stop is decided from the fixed vocabulary alone
(:func:`.commands.needs_lexicon` is False for it), and the lexicon never maps a word to stop.
Plain Python, JSON-able dicts in and out.
"""

from __future__ import annotations

from dataclasses import asdict

from ..labels import COLOURS, SHAPES
from .commands import (VERBS, ParsedCommand, command_words, is_known, normalise, parse_command,
                       tokens)

MAX_TEXT = 500                 # characters of a typed command (as teleop accepts)
MAPPED_INTENTS = ("pick", "place", "move")   # the only intents a lexicon maps verbs onto
_MAPPED_VERBS = {v for i in MAPPED_INTENTS for v in VERBS[i]}


class AnswerError(ValueError):
    """A cloud answer the robot cannot use (the message says why)."""


class RecordingLexicon:
    """Wraps a lexicon (core.speech.lexicon.Lexicon) and records what it answered: ``mapped``
    (word -> canonical word, answers that were not None), ``unknown`` (words it could not
    place) and ``colour_words`` (words it knows as colour names, mapped or not)."""

    def __init__(self, base):
        self.base = base
        self.mapped: dict[str, str] = {}
        self.unknown: list[str] = []
        self.colour_words: list[str] = []

    def _note(self, word: str, value: str | None) -> str | None:
        if value is None:
            if word not in self.unknown and word not in self.mapped:
                self.unknown.append(word)
        else:
            self.mapped[word] = value
            if word in self.unknown:
                self.unknown.remove(word)
        return value

    def is_colour_word(self, word: str) -> bool:
        known = self.base.is_colour_word(word)
        if known and word not in self.colour_words:
            self.colour_words.append(word)
        return known

    def colour(self, word: str) -> str | None:
        return self._note(word, self.base.colour(word))

    def shape(self, word: str) -> str | None:
        return self._note(word, self.base.shape(word))

    def verb(self, word: str, recipient: bool = False) -> str | None:
        return self._note(word, self.base.verb(word, recipient=recipient))


def lexicon_info(lexicon) -> dict:
    """What a lexicon can map: colours always; nouns by the dictionary, nouns and verbs by the
    sentence embedding when the optional extras are installed."""
    return {"embeddings": bool(getattr(lexicon, "use_embeddings", False)),
            "dictionary": bool(getattr(lexicon, "use_dictionary", False))}


def explain(text: str, lexicon) -> dict:
    """The cloud's answer to ``command``: ``text`` parsed as teleop parses a typed command with
    ``lexicon``. Keys: ``text``; ``command`` (intent, target_description, colour, shape,
    temperature, deictic, confidence - or None: not a command); ``canonical`` (the words with
    every mapped one replaced); ``mapped`` (word -> canonical word); ``colour_words``;
    ``unknown`` (words left outside the vocabulary); ``reason`` when not a command;
    ``lexicon`` (:func:`lexicon_info`). ValueError for text that is empty or too long."""
    if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_TEXT:
        raise ValueError(f"text must be a string of 1-{MAX_TEXT} characters")
    rec = RecordingLexicon(lexicon)
    parsed = parse_command(text, rec)
    words = command_words(text)
    normalised = normalise(words, rec) if words else ([], 0)
    canonical = normalised[0] if normalised is not None else words
    unknown = [w for w in canonical if not is_known(w) and w not in rec.mapped]
    answer = {"text": text, "command": None if parsed is None else asdict(parsed),
              "canonical": " ".join(canonical), "mapped": dict(rec.mapped),
              "colour_words": list(rec.colour_words), "unknown": unknown,
              "lexicon": lexicon_info(lexicon)}
    if parsed is None:
        if normalised is None:
            named = [w for w in rec.colour_words if w not in rec.mapped]
            answer["reason"] = f"{', '.join(named) or 'a colour word'}: a colour with no hue of ours"
        elif unknown:
            answer["reason"] = f"unknown words: {', '.join(unknown)}"
        else:
            answer["reason"] = "no command in these words"
    return answer


class AnsweredLexicon:
    """The lexicon interface answered from a cloud answer's ``mapped`` and ``colour_words``
    (what the cloud's lexicon said about each word): a word it did not map stays unknown."""

    def __init__(self, mapped: dict[str, str], colour_words=()):
        self.mapped, self.colour_words = dict(mapped), frozenset(colour_words)
        self.use_embeddings = self.use_dictionary = False

    def is_colour_word(self, word: str) -> bool:
        return word in self.colour_words

    def colour(self, word: str) -> str | None:
        value = self.mapped.get(word)
        return value if value in COLOURS else None

    def shape(self, word: str) -> str | None:
        value = self.mapped.get(word)
        return value if value in SHAPES else None

    def verb(self, word: str, recipient: bool = False) -> str | None:
        value = self.mapped.get(word)
        if value not in _MAPPED_VERBS or (recipient and value not in VERBS["pick"]):
            return None
        return value


def check_answer(text: str, answer) -> tuple[AnsweredLexicon, ParsedCommand | None]:
    """The lexicon of a cloud answer to ``command`` about ``text`` and the robot's own parse
    of ``text`` with it (None: not a command). Raises :class:`AnswerError` when the answer is
    malformed, about another text, maps a word of the text onto a word outside the vocabulary
    (or onto a stop), or names a command the robot's parse does not reproduce."""
    if not isinstance(answer, dict):
        raise AnswerError("the answer is not a JSON object")
    if answer.get("text") != text:
        raise AnswerError(f"the answer is about {str(answer.get('text'))[:60]!r}, not this text")
    mapped, colour_words = answer.get("mapped"), answer.get("colour_words", [])
    if not isinstance(mapped, dict) or not isinstance(colour_words, list):
        raise AnswerError("'mapped' must be an object and 'colour_words' a list")
    words = set(tokens(text))
    words |= {w[:-1] for w in words if w.endswith("s") and len(w) > 3}  # shape nouns, singular
    allowed = set(COLOURS) | set(SHAPES) | _MAPPED_VERBS
    for word, value in mapped.items():
        if word not in words:
            raise AnswerError(f"maps {str(word)[:40]!r}, which is not in the text")
        if value not in allowed:
            raise AnswerError(f"maps {word!r} onto {str(value)[:40]!r}, not a colour, shape or "
                              "motion verb of the vocabulary")
    lexicon = AnsweredLexicon(mapped, [w for w in colour_words if isinstance(w, str)])
    parsed = parse_command(text, lexicon)
    said = answer.get("command")
    if said is not None and not isinstance(said, dict):
        raise AnswerError("'command' must be an object or null")
    ours = None if parsed is None else (parsed.intent, parsed.target_description)
    theirs = None if said is None else (said.get("intent"), said.get("target_description"))
    if ours != theirs:
        raise AnswerError(f"the cloud parsed {theirs}, this robot parses {ours} with the same "
                          "mapping: are both on the same omni_ros version?")
    return lexicon, parsed
