"""One worker thread per modality: encoding runs off the thread that receives the messages.

``submit(name, job)`` hands a job to modality ``name``'s worker and returns at once. Each worker
holds at most one pending job: a newer job replaces a pending one that has not started (latest
wins - an encoder that falls behind skips to the newest input instead of building a queue), and
the replaced ones are counted (``superseded``). Workers of different modalities run at the same
time: torch releases the GIL inside its kernels, so a camera frame being encoded does not hold
up a force/torque reading. A job that raises is counted (``errors``, ``last_error``) and
reported to ``on_error``; the worker carries on.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Callable


class _Slot:
    """One worker's state: its newest pending job, whether it runs one, its wake-up."""

    def __init__(self):
        self.cond = threading.Condition()
        self.pending = None
        self.has_job = self.busy = False


class EncoderWorkers:
    """Daemon threads, one per name, each running ``run(name, job)`` on its newest job. A
    submission wakes only its own worker."""

    def __init__(self, names, run: Callable[[str, object], None],
                 on_error: Callable[[str, Exception], None] | None = None):
        self._run, self._on_error = run, on_error
        self._slots = {n: _Slot() for n in names}
        self._closed = False
        self.superseded: Counter = Counter()
        self.done: Counter = Counter()
        self.errors: Counter = Counter()
        self.last_error = ""
        self._threads = [threading.Thread(target=self._loop, args=(n,), name=f"encode-{n}",
                                          daemon=True) for n in names]
        for t in self._threads:
            t.start()

    @property
    def names(self) -> list[str]:
        return list(self._slots)

    def submit(self, name: str, job) -> None:
        slot = self._slots[name]
        with slot.cond:
            if self._closed:
                raise RuntimeError("encoder workers are closed")
            if slot.has_job:
                self.superseded[name] += 1
            slot.pending, slot.has_job = job, True
            slot.cond.notify()

    def _loop(self, name: str) -> None:
        slot = self._slots[name]
        while True:
            with slot.cond:
                while not slot.has_job and not self._closed:
                    slot.cond.wait()
                if self._closed:
                    return
                job, slot.pending, slot.has_job, slot.busy = slot.pending, None, False, True
            try:
                self._run(name, job)
                self.done[name] += 1
            except Exception as err:  # a bad input must not kill the worker
                self.errors[name] += 1
                self.last_error = f"{name}: {type(err).__name__}: {err}"[:500]
                if self._on_error is not None:
                    try:
                        self._on_error(name, err)
                    except Exception:  # e.g. the node is gone; the count stays
                        pass
            finally:
                with slot.cond:
                    slot.busy = False
                    slot.cond.notify_all()

    def idle(self) -> bool:
        return all(not (s.has_job or s.busy) for s in self._slots.values())

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no job is pending or running (True), or ``timeout_s`` passed (False)."""
        end = time.monotonic() + timeout_s
        for slot in self._slots.values():
            with slot.cond:
                if not slot.cond.wait_for(lambda: not (slot.has_job or slot.busy),
                                          max(0.0, end - time.monotonic())):
                    return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Drop pending jobs, let running ones finish, and join the threads."""
        self._closed = True
        for slot in self._slots.values():
            with slot.cond:
                slot.pending, slot.has_job = None, False
                slot.cond.notify_all()
        for t in self._threads:
            t.join(timeout_s)
