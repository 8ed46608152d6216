"""Offline speech synthesis with espeak-ng (the shared library shipped by ``espeakng-loader``),
driven through ctypes: the robot's own voice (teleop's spoken feedback), and the sim's operator
voices (``omni_ros_sim.tts``).

    audio = synthesize("pick up the red cube")          # float32, 16 kHz, full scale 1

espeak-ng keeps global state, so the library is initialised once per process and every call
holds a lock; calling from several threads is safe (they take turns). Its noise generator is
reseeded per call, but output is still not bit-exact from call to call: the synthesiser carries
pitch-flutter state over, which re-initialising does not reset (lengths vary by up to ~2 %). The
same sequence of calls in a fresh process gives the same samples.
"""

from __future__ import annotations

import ctypes
import threading
from math import gcd

import numpy as np
from scipy.signal import resample_poly

SAMPLE_RATE = 16000  # output rate of synthesize() [Hz]


# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_PITCH = 1, 3
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class SpeechSynthesisError(RuntimeError):
    """espeak-ng could not be loaded or failed to synthesise."""


class _Espeak:
    """The process-wide espeak-ng instance (synchronous mode, samples collected by a callback)."""

    def __init__(self):
        try:
            import espeakng_loader
            path, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
            self.lib = ctypes.CDLL(path)
        except (ImportError, OSError, RuntimeError) as e:
            raise SpeechSynthesisError(
                f"cannot load the espeak-ng library from espeakng-loader ({e}); "
                "install it with `pip install espeakng-loader`") from e
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        self.reseed = getattr(lib, "espeak_ng_SetRandSeed", None)  # not in every build
        if self.reseed is not None:
            self.reseed.argtypes = [ctypes.c_long]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0)
        if self.rate <= 0:
            raise SpeechSynthesisError(f"espeak_Initialize failed (data path {data})")
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)  # keep a reference: the library holds the pointer
        lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav, n, _events) -> int:
        if wav and n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue

    def synth(self, text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
        """int16 samples at ``self.rate`` [Hz]."""
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise SpeechSynthesisError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_ESPEAK_RATE, int(rate_wpm), 0)
        lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        if self.reseed is not None:
            self.reseed(0)  # breathy variants ("+f2") add random noise
        self.chunks = []
        raw = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise SpeechSynthesisError(f"espeak_Synth failed with error {err} for {text!r}")
        chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


_lock = threading.Lock()
_engine: _Espeak | None = None


def synthesize(text: str, voice: str = "en-us", rate_wpm: int = 150, pitch: int = 50) -> np.ndarray:
    """``text`` spoken by espeak-ng voice ``voice`` ("en-us"; "en" is British English; a suffix
    such as "+f3" picks a variant) at ``rate_wpm`` [words per minute, 80..450] and ``pitch``
    [0..100]: float32 mono samples (full scale 1) at 16 kHz, resampled from espeak's rate
    (22.05 kHz)."""
    global _engine
    if not 80 <= rate_wpm <= 450 or not 0 <= pitch <= 100:
        raise ValueError(f"rate_wpm {rate_wpm} must be in [80, 450] and pitch {pitch} in [0, 100]")
    with _lock:
        if _engine is None:
            _engine = _Espeak()
        pcm, rate = _engine.synth(text, voice, rate_wpm, pitch), _engine.rate
    x = pcm.astype(np.float32) / 32768.0
    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)
