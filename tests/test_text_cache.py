"""Warm text latents: every object description a command can carry is in the list encoded at
configure; the cache gives the latents the model gives; it is stored beside the checkpoint,
keyed by its hash, and a changed checkpoint or a damaged file is recomputed, never trusted."""

import itertools

import numpy as np
import pytest
import torch

from omni_ros.core.labels import COLOURS, SHAPES
from omni_ros.core.model.checkpoint import save_checkpoint
from omni_ros.core.model.model_config import OmniConfig
from omni_ros.core.model.omni import OmniModel
from omni_ros.core.perception.grounding import split_temperature
from omni_ros.core.perception.pipeline import Perception
from omni_ros.core.perception.text_cache import TextLatents, command_descriptions
from omni_ros.core.speech.commands import parse_command


def test_every_parsed_description_is_in_the_warm_list():
    warm = set(command_descriptions())
    verbs = ("pick up", "grab", "move", "take")
    temps = ("", "hot ", "cold ")
    words = [("the ", c, " ", s) for c in ("",) + COLOURS for s in ("",) + SHAPES]
    seen = set()
    for v, t, (d, c, sp, s) in itertools.product(verbs, temps, words):
        for text in (f"{v} {d}{t}{c}{sp}{s}", f"{v} the {t}{c} {s}s", f"please {v} that {c} {s} there"):
            cmd = parse_command(" ".join(text.split()), lexicon=None)
            if cmd is None or cmd.intent not in ("pick", "move"):
                continue
            _, description = split_temperature(cmd.target_description)
            if description and description not in ("here", "there", "it"):
                seen.add(description)
                assert description in warm, (text, description)
    assert len(seen) >= len(COLOURS) * len(SHAPES)   # the loop did reach the descriptions


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = OmniConfig()
    model = OmniModel(cfg.model).eval()
    return save_checkpoint(tmp_path / "m.pt", model, cfg, {}), model


def test_cache_matches_the_model_and_is_reused_from_its_file(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, model = checkpoint
    first = Perception(model)
    assert first.warm_text(str(path)) == "computed"
    files = list(tmp_path.glob("m.pt.*.text_latents.npz"))
    assert len(files) == 1
    for d in command_descriptions():
        np.testing.assert_allclose(first.text_latent(d), first.encode_texts([d])[0], atol=1e-6)
    assert first.text_cache.hits == len(command_descriptions()) and first.text_cache.misses == 0

    again = Perception(model)
    assert again.warm_text(str(path)) == f"file {files[0]}"
    for d in command_descriptions():
        np.testing.assert_array_equal(again.text_latent(d), first.text_latent(d))
    odd = again.text_latent("the shiny thing")               # outside the list: encoded, kept
    np.testing.assert_allclose(odd, again.encode_texts(["the shiny thing"])[0], atol=1e-6)
    assert again.text_cache.misses == 1 and "the shiny thing" in again.text_cache.latents


def test_a_changed_checkpoint_or_a_damaged_file_is_recomputed(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, model = checkpoint
    Perception(model).warm_text(str(path))
    (cache_file,) = tmp_path.glob("m.pt.*.text_latents.npz")
    cache_file.write_bytes(b"not a cache")
    assert Perception(model).warm_text(str(path)) == "computed"

    with torch.no_grad():                                   # other weights, same file name
        model.project["text"].weight.mul_(-1.0)
    save_checkpoint(path, model, OmniConfig(), {})
    changed = Perception(model)
    assert changed.warm_text(str(path)) == "computed"
    np.testing.assert_allclose(changed.text_latent("red cube"),
                               changed.encode_texts(["red cube"])[0], atol=1e-6)
    assert len(list(tmp_path.glob("m.pt.*.text_latents.npz"))) == 2   # one per checkpoint hash


def test_an_unwritable_folder_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    encode = lambda ds: np.ones((len(ds), 4), np.float32)  # noqa: E731
    ro = tmp_path / "share"
    ro.mkdir()
    (ro / "m.pt").write_bytes(b"x")
    ro.chmod(0o555)
    try:
        cache = TextLatents(encode, key="k" * 64)
        assert cache.warm(["red cube"], ro / "m.pt") == "computed"
        if not list(ro.glob("*.npz")):                      # (root may write anyway)
            assert list((tmp_path / "cache" / "omni_ros" / "text_latents").glob("*.npz"))
        again = TextLatents(encode, key="k" * 64)
        assert again.warm(["red cube"], ro / "m.pt").startswith("file ")
    finally:
        ro.chmod(0o755)
