"""The command language: typed-text parser and the speech grammar generated from one vocabulary."""

import re

import pytest

from omni_ros.core.speech.commands import (SHAPE_WORDS, TYPED_ONLY, VERBS, ParsedCommand, jsgf_grammar,
                                    parse_command)
from omni_ros.core.model.omni import COLOURS, SHAPES
from omni_ros.core.types import INTENTS

# text -> (intent, target_description, colour, shape, deictic)
PARSES = {
    "pick up the red cube": ("pick", "red cube", "red", "cube", False),
    "Pick up the red block, please!": ("pick", "red cube", "red", "cube", False),
    "PICK UP THE GREEN BOX.": ("pick", "green cube", "green", "cube", False),
    "grab the ball that is red": ("pick", "red sphere", "red", "sphere", False),
    "red cube, pick it up": ("pick", "red cube", "red", "cube", False),
    "can you pick up the can": ("pick", "cylinder", None, "cylinder", False),
    "could you please take the yellow tube": ("pick", "yellow cylinder", "yellow", "cylinder", False),
    "lift the purple cylinder now": ("pick", "purple cylinder", "purple", "cylinder", False),
    "get the orange sphere": ("pick", "orange sphere", "orange", "sphere", False),
    "pick it up": ("pick", "", None, None, False),
    "pick up this one": ("pick", "here", None, None, True),
    "pick that red one up": ("pick", "red", "red", None, True),
    "pick up the blue one": ("pick", "blue", "blue", None, False),
    "pick up the boxes": ("pick", "cube", None, "cube", False),
    "put it here": ("place", "here", None, None, True),
    "put it down there": ("place", "here", None, None, True),
    "place the red cube there": ("place", "red cube", "red", "cube", True),
    "put down the blue ball over there": ("place", "blue sphere", "blue", "sphere", True),
    "drop it": ("place", "", None, None, False),
    "set it down": ("place", "", None, None, False),
    "move here": ("move", "here", None, None, True),
    "go there": ("move", "here", None, None, True),
    "move to the purple cylinder": ("move", "purple cylinder", "purple", "cylinder", False),
    "go home": ("home", "", None, None, False),
    "Home.": ("home", "", None, None, False),
    "go back home now": ("home", "", None, None, False),
    "stop": ("stop", "", None, None, False),
    "please STOP now!": ("stop", "", None, None, False),
    "no no stop moving the red cube": ("stop", "", None, None, False),
    "halt": ("stop", "", None, None, False),
    "freeze": ("stop", "", None, None, False),
}

NOT_COMMANDS = ["", "   ", "?!", "what time is it", "the weather is nice today", "open the door",
                "I like green apples", "hello there", "pick up", "go", "move", "set the table",
                "get me a coffee", "take the green apple", "the red one"]


@pytest.mark.parametrize("text", PARSES, ids=list(PARSES))
def test_parse_command(text):
    c = parse_command(text)
    assert isinstance(c, ParsedCommand), text
    assert (c.intent, c.target_description, c.colour, c.shape, c.deictic) == PARSES[text]
    assert c.intent in INTENTS
    assert 0.0 <= c.confidence <= 1.0


@pytest.mark.parametrize("text", NOT_COMMANDS)
def test_not_a_command(text):
    assert parse_command(text) is None


def test_unknown_words_lower_confidence():
    assert parse_command("pick up the red cube").confidence == 1.0
    assert parse_command("pick up the red cube on the left").confidence < 1.0


def test_every_colour_shape_and_synonym_parses():
    for colour in COLOURS:
        for shape, words in SHAPE_WORDS.items():
            for word in words:
                c = parse_command(f"pick up the {colour} {word}")
                assert (c.colour, c.shape, c.target_description) == (colour, shape, f"{colour} {shape}")


def test_vocabulary_covers_model_and_message():
    assert set(SHAPE_WORDS) == set(SHAPES)
    assert set(VERBS) == set(INTENTS)


def _alternatives(grammar: str, rule: str) -> set[str]:
    body = re.search(rf"^<{rule}> = (.*);$", grammar, re.M).group(1)
    return {w.strip("()[] ") for w in body.split("|")}


def test_grammar_is_generated_from_the_vocabulary():
    g = jsgf_grammar()
    assert g.startswith("#JSGF V1.0;")
    assert re.search(r"^public <command> = ", g, re.M)
    assert _alternatives(g, "colour") == set(COLOURS)
    spoken_shapes = {w for words in SHAPE_WORDS.values() for w in words} - TYPED_ONLY
    assert _alternatives(g, "shape") == spoken_shapes
    assert set(SHAPES) <= spoken_shapes
    words = set(re.findall(r"[a-z]+", g.split("grammar omni_commands;")[1]))
    for verb in (v for vs in VERBS.values() for v in vs):
        assert (verb in words) != (verb in TYPED_ONLY), verb
    for w in ("here", "there", "this", "that", "one", "it", "the", "please"):
        assert w in words, w


def test_grammar_accepts_commands_the_parser_understands():
    import pocketsphinx

    fsg = pocketsphinx.Decoder(jsgf=None, lm=None, loglevel="FATAL").parse_jsgf(jsgf_grammar())
    spoken = ["put it here", "put it down there", "place the red cube there", "set it here", "move here",
              "go there", "go home", "home", "stop", "halt", "freeze", "pick up this one",
              "pick that red one up", "please put the blue ball down over there please",
              "move to the purple cylinder", "grab the green block"]
    spoken += [f"pick up the {c} {s}" for c in COLOURS for s in SHAPES]
    for sentence in spoken:
        assert fsg.accept(sentence), sentence
        assert parse_command(sentence) is not None, sentence
    for sentence in ("what time is it", "pick up", "pick up the red tube", "the red cube", "drop it"):
        assert not fsg.accept(sentence), sentence
