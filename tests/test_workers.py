"""Parallel encoders: each modality is encoded on a worker thread of its own, so a slow camera
frame never holds up a force/torque reading; the cache and the camera's objects stay
consistent; a reset forgets what a worker was still encoding. Ordering is forced with events
(a camera encoder that waits until the test lets it go), never with sleeps or timing."""

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
    seen: list[tuple[str, object]] = []
    cond = threading.Condition()

    def on_encoded(name, err):
        with cond:
            seen.append((name, err))
            cond.notify_all()

    def wait_for(name):
        with cond:
            assert cond.wait_for(lambda: any(n == name for n, _ in seen), DEADLINE_S), name
    return seen, on_encoded, wait_for


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
    seen, on_encoded, wait_for = _recorder()
    pipe = Perception(model, on_encoded=on_encoded)
    gate = Gate(model.encoders["camera"])
    model.encoders["camera"] = gate
    try:
        items = iter(stream)
        for key, stamp, payload in items:   # up to the first camera frame (its colour image
            pipe.push(key, stamp, payload)  # completes it) ...
            if key == "color":
                break
        assert gate.entered.wait(DEADLINE_S)  # ... which is now in its stuck encoder
        wrench = None
        for key, stamp, payload in items:   # the camera encoder is stuck; wrenches go on
            pipe.push(key, stamp, payload)
            if key == "wrench":
                wrench = stamp
                break
        assert wrench is not None, "no wrench after the first camera frame"
        while pipe.cache.get("force") is None or pipe.cache["force"].stamp_ns < wrench:
            seen.clear()   # (a force latent of an earlier wrench may have been reported)
            if pipe.cache.get("force") is not None and pipe.cache["force"].stamp_ns >= wrench:
                break
            wait_for("force")
        assert "camera" not in pipe.cache and not gate.open.is_set()
        scene = pipe.fuse(wrench)
        assert scene is not None and scene.present[model.names.index("force")]
        assert not scene.present[model.names.index("camera")]
        gate.open.set()
        wait_for("camera")
        assert "camera" in pipe.cache
    finally:
        gate.open.set()
        model.encoders["camera"] = gate.inner
        pipe.close()


def test_reset_forgets_what_a_worker_was_still_encoding(stream, model):
    seen, on_encoded, wait_for = _recorder()
    pipe = Perception(model, on_encoded=on_encoded)
    gate = Gate(model.encoders["camera"])
    model.encoders["camera"] = gate
    try:
        for key, stamp, payload in stream:
            pipe.push(key, stamp, payload)
            if key == "color":
                break
        assert gate.entered.wait(DEADLINE_S)
        pipe.reset()                          # the world was reset while the frame was encoded
        gate.open.set()
        wait_for("camera")
        assert pipe.wait_idle(DEADLINE_S)
        assert "camera" not in pipe.cache and pipe.camera_objects == []
    finally:
        gate.open.set()
        model.encoders["camera"] = gate.inner
        pipe.close()


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
    seen, on_encoded, wait_for = _recorder()
    pipe = Perception(model, on_encoded=on_encoded, threaded=["camera"])
    broken = Broken(model.encoders["camera"])
    model.encoders["camera"] = broken
    try:
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
    finally:
        model.encoders["camera"] = broken.inner
        pipe.close()
