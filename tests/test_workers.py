"""Parallel encoders: each modality is encoded on a worker thread of its own, so a slow camera
frame never holds up a force/torque reading; the cache and the camera's objects stay
consistent; a reset forgets what a worker was still encoding. Ordering is forced with events
(a camera encoder that waits until the test lets it go), never with sleeps or timing."""

import contextlib
import threading

import numpy as np
import pytest
import torch

from omni_ros.core.model.model_config import ModelConfig
from omni_ros.core.model.omni import OmniModel
from omni_ros.core.perception.pipeline import Perception
from omni_ros.core.perception.workers import EncoderWorkers
from omni_ros.dataset.generate import episode_items
from omni_ros_sim.config import SimConfig

DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def stream():
    """The first 1.5 s of an expert episode (every sensor), as (key, stamp, payload)."""
    gen = episode_items(3, SimConfig())
    items = []
    for key, stamp, payload in gen:
        if stamp > 1.5e9:
            break
        items.append((key, stamp, payload))
    gen.close()
    return items


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return OmniModel(ModelConfig()).eval()


class Gate(torch.nn.Module):
    """Wraps an encoder: each call waits until the test opens the gate (``entered`` says a
    call is waiting)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.entered = threading.Event()
        self.open = threading.Event()

    def forward(self, x):
        self.entered.set()
        assert self.open.wait(DEADLINE_S), "the test never opened the gate"
        return self.inner(x)


def _recorder():
    """(reports seen, on_encoded for a Perception, wait_until(predicate)): each report wakes
    the waiter, who re-checks its predicate (the cache is written before the report)."""
    seen: list[tuple[str, object]] = []
    cond = threading.Condition()

    def on_encoded(name, err):
        with cond:
            seen.append((name, err))
            cond.notify_all()

    def wait_until(predicate):
        with cond:
            assert cond.wait_for(predicate, DEADLINE_S), "no such report within the deadline"
    return seen, on_encoded, wait_until


@contextlib.contextmanager
def _wrapped_camera(model, wrapper, **perception):
    """A Perception with encoder workers whose camera encoder is ``wrapper(original)``; the
    original is back and the workers closed afterwards."""
    original = model.encoders["camera"]
    model.encoders["camera"] = wrapped = wrapper(original)
    seen, on_encoded, wait_until = _recorder()
    pipe = Perception(model, on_encoded=on_encoded, **perception)
    try:
        yield pipe, wrapped, seen, wait_until
    finally:
        if isinstance(wrapped, Gate):
            wrapped.open.set()
        model.encoders["camera"] = original
        pipe.close()


def _push_until(pipe, items, last_key):
    """Push ``items`` (an iterator) up to and including the first one of ``last_key``; its stamp."""
    for key, stamp, payload in items:
        pipe.push(key, stamp, payload)
        if key == last_key:
            return stamp
    raise AssertionError(f"no {last_key} in the stream")


def test_worker_keeps_only_the_newest_pending_job_and_survives_errors():
    release, started = threading.Event(), threading.Event()
    ran: list = []

    def run(name, job):
        if job == "first":
            started.set()
            assert release.wait(DEADLINE_S)
        if job == "bad":
            raise ValueError("broken input")
        ran.append(job)

    errors = []
    w = EncoderWorkers(["camera"], run, on_error=lambda n, e: errors.append((n, str(e))))
    try:
        w.submit("camera", "first")
        assert started.wait(DEADLINE_S)
        for job in ("second", "third", "fourth"):   # the worker is busy: only the newest waits
            w.submit("camera", job)
        release.set()
        assert w.wait_idle(DEADLINE_S)
        assert ran == ["first", "fourth"] and w.superseded["camera"] == 2
        w.submit("camera", "bad")
        assert w.wait_idle(DEADLINE_S)
        w.submit("camera", "after")
        assert w.wait_idle(DEADLINE_S)
        assert errors == [("camera", "broken input")] and w.errors["camera"] == 1
        assert ran[-1] == "after" and "ValueError" in w.last_error
    finally:
        w.close()
    assert not any(t.is_alive() for t in w._threads)
    with pytest.raises(RuntimeError, match="closed"):
        w.submit("camera", "late")


def test_parallel_pipeline_fuses_what_the_inline_one_fuses(stream, model):
    inline = Perception(model)
    seen, on_encoded, _ = _recorder()
    parallel = Perception(model, on_encoded=on_encoded)
    try:
        for key, stamp, payload in stream:
            inline.push(key, stamp, payload)
            parallel.push(key, stamp, payload)
            assert parallel.wait_idle(DEADLINE_S)
        now = stream[-1][1]
        a, b = inline.fuse(now), parallel.fuse(now)
        assert a.present == b.present and all(a.present)
        np.testing.assert_allclose(a.fused_latent, b.fused_latent, atol=1e-6)
        np.testing.assert_allclose(a.gate_weights, b.gate_weights, atol=1e-6)
        assert [o.id for o in a.objects] == [o.id for o in b.objects]
        assert {n for n, _ in seen} == set(model.names) and all(e is None for _, e in seen)
    finally:
        parallel.close()


def test_a_slow_camera_frame_does_not_delay_the_force_stream(stream, model):
    with _wrapped_camera(model, Gate) as (pipe, gate, seen, wait_until):
        items = iter(stream)
        _push_until(pipe, items, "color")       # a camera frame is complete ...
        assert gate.entered.wait(DEADLINE_S)    # ... and now in its stuck encoder
        wrench = _push_until(pipe, items, "wrench")
        wait_until(lambda: "force" in pipe.cache and pipe.cache["force"].stamp_ns >= wrench)
        assert "camera" not in pipe.cache and not gate.open.is_set()
        scene = pipe.fuse(wrench)
        assert scene is not None and scene.present[model.names.index("force")]
        assert not scene.present[model.names.index("camera")]
        gate.open.set()
        wait_until(lambda: "camera" in pipe.cache)


def test_reset_forgets_what_a_worker_was_still_encoding(stream, model):
    with _wrapped_camera(model, Gate) as (pipe, gate, seen, wait_until):
        _push_until(pipe, iter(stream), "color")
        assert gate.entered.wait(DEADLINE_S)
        pipe.reset()                          # the world was reset while the frame was encoded
        gate.open.set()
        wait_until(lambda: any(n == "camera" for n, _ in seen))
        assert pipe.wait_idle(DEADLINE_S)
        assert "camera" not in pipe.cache and pipe.camera_objects == []


class Broken(torch.nn.Module):
    """An encoder that fails on its first call only (a frame it cannot read)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 1:
            raise ValueError("unreadable frame")
        return self.inner(x)


def test_an_input_that_fails_to_encode_is_reported_and_the_next_one_is_encoded(stream, model):
    with _wrapped_camera(model, Broken, threaded=["camera"]) as (pipe, broken, seen, _):
        for key, stamp, payload in stream:
            pipe.push(key, stamp, payload)
            assert pipe.wait_idle(DEADLINE_S)
            if "camera" in pipe.cache:
                break
        errors = [(n, str(e)) for n, e in seen if e is not None]
        assert errors == [("camera", "unreadable frame")], seen
        assert pipe.workers.errors["camera"] == 1 and "unreadable frame" in pipe.workers.last_error
        assert broken.calls >= 2 and "camera" in pipe.cache       # the worker carried on
        assert pipe.workers.names == ["camera"] and "force" in pipe.cache  # inline: no report
        assert all(n == "camera" for n, _ in seen)
