"""The recogniser in a process of its own, so that decoding never holds the caller's GIL.

pocketsphinx keeps the GIL while it decodes (measured: a 5.5 s stall of every other thread of
the teleop node on a loaded machine), so a typed "stop" could wait behind a long noisy
utterance. :class:`RecognizerProcess` runs the recogniser (:mod:`.asr`) in a child
Python (``python -m omni_ros.core.speech.process``, a light entry module: no ROS, nothing of the
caller's ``__main__`` re-imported) and talks to it over its stdin/stdout pipes: one
length-prefixed pickle frame per request and per answer. The caller blocks in ``os.read`` (no
GIL held) while the child decodes.

The child ends when its stdin closes (the caller exited, however it died); it runs in a session
of its own and ignores SIGINT (a Ctrl-C in a terminal reaches the caller, which decides when
the child stops).
A child that dies is started again on the next request (``restarts`` counts it).

    with RecognizerProcess(sample_rate=16000) as rec:
        r = rec.recognize(samples)     # a Recognition, as CommandRecognizer.recognize gives
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading

import numpy as np

_HEADER = struct.Struct("<Q")
START_TIMEOUT_S = 300.0  # building the decoders on a loaded 2-core machine [s]


class RecognizerStopped(RuntimeError):
    """The recogniser process was closed (or died) before it answered."""


def _write(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read(fd: int):
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return pickle.loads(_read_exact(fd, size))


class RecognizerProcess:
    """The recogniser :func:`~.asr.make_recognizer` builds with ``kwargs`` (``cfg``: an
    :class:`~.asr.AsrConfig`, the backend) in a child process.
    Thread-safe: one request at a time (a lock). :meth:`close` from another thread makes a
    waiting :meth:`recognize` raise :class:`RecognizerStopped`."""

    def __init__(self, start_timeout_s: float = START_TIMEOUT_S, **kwargs):
        self.kwargs = kwargs
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self._lock = threading.Lock()
        self._closed = False
        self._proc: subprocess.Popen | None = None
        self.gate = None  # Whisper thresholds set while running (set_gate), sent with each request
        self._start()

    def _start(self) -> None:
        # a session of its own: a Ctrl-C in the terminal reaches the node, which ends the child
        # (it would otherwise die inside its imports, before it can ignore SIGINT)
        self._proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, close_fds=True,
                                      start_new_session=True)
        _write(self._proc.stdin.fileno(), self.kwargs)
        ready = self._answer(self.start_timeout_s)
        if ready != "ready":
            raise RuntimeError(f"recogniser process failed to start: {ready!r}")

    def _answer(self, timeout_s: float | None):
        """The child's next frame; a child that exits or sends an error raises."""
        fd = self._proc.stdout.fileno()
        if timeout_s is not None:
            if not select.select([fd], [], [], timeout_s)[0]:
                self._kill()
                raise RecognizerStopped(f"recogniser process silent for {timeout_s:g} s")
        try:
            answer = _read(fd)
        except (EOFError, OSError, pickle.UnpicklingError) as err:
            self._kill()
            raise RecognizerStopped(f"recogniser process ended ({err})") from None
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def set_gate(self, gate) -> None:
        """Whisper's decision thresholds (a :class:`.whisper.Gate`) from the next utterance on,
        restarts included; never waits for a decode in progress (other backends ignore it)."""
        self.gate = gate

    def recognize(self, samples: np.ndarray, reply: bool = False):
        """The child's :class:`~.recognizer.Recognition` of ``samples`` (float or int16, at the
        recogniser's sample rate); ``reply``: "yes" / "no" may be the answer too."""
        with self._lock:
            if self._closed:
                raise RecognizerStopped("recogniser process closed")
            if self._proc is None or self._proc.poll() is not None:
                self.restarts += 1
                self._start()
            try:
                _write(self._proc.stdin.fileno(), (np.asarray(samples), bool(reply), self.gate))
            except OSError as err:
                self._kill()
                raise RecognizerStopped(f"recogniser process ended ({err})") from None
            return self._answer(None)

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Stop the child now (a decode in progress is not waited for)."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # unblocks a recognize() waiting in another thread (EOF)
        if self._lock.acquire(timeout=10.0):
            try:
                self._kill()
            finally:
                self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(fd_in: int, fd_out: int) -> None:
    """The child's loop: first frame = make_recognizer kwargs, then one answer per
    (samples, reply, gate) request (gate: new Whisper thresholds, or None)."""
    from .asr import make_recognizer
    from .whisper import Gate

    kwargs = _read(fd_in)
    try:
        rec = make_recognizer(**kwargs)
    except Exception as err:  # a bad parameter: the caller raises it
        _write(fd_out, err)
        return
    _write(fd_out, "ready")
    while True:
        try:
            samples, reply, gate = _read(fd_in)
        except EOFError:
            return
        whisper = getattr(rec, "whisper", rec)  # (the "both" backend holds one)
        if gate is not None and isinstance(getattr(whisper, "gate", None), Gate):
            whisper.gate = gate
        try:
            answer = rec.recognize(samples, reply=reply)
        except Exception as err:
            answer = RuntimeError(f"recogniser: {err!r}")
        _write(fd_out, answer)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # stdout carries frames only: anything printed goes to stderr
    out = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.fileno(), out)
