"""Spoken syllables from the local ``espeak-ng`` binary (Debian package ``espeak-ng``).

The sung vocal (:mod:`.voice`) starts from speech: each syllable is spoken by espeak-ng, then
retimed and repitched. espeak-ng is a formant synthesiser with no randomness, so a syllable
is a pure function of (text, voice, speed, pitch) on one espeak-ng version; results are cached
per process. Nothing is downloaded: the binary and its voice data are local.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

ESPEAK = "espeak-ng"
"""Binary name, looked up on ``PATH``."""

ESPEAK_RATE = 22050
"""espeak-ng's output sample rate."""

LANGUAGES = ("en", "en-us", "de", "es", "fr", "it")
"""espeak-ng voices (languages) a singer may use."""

FEMALE_VARIANTS = ("f1", "Andrea", "belinda", "linda", "aunty", "steph")
MALE_VARIANTS = ("m1", "m3", "m4", "m5", "m6", "klatt2", "klatt3", "Lee")
"""Voice variants (``language+variant``) that repitch well: fully voiced (no whisper,
croak or breath noise) and without espeak-ng's echo (f2-f5, m2), whose delayed copy would be
smeared by PSOLA."""


class VoiceUnavailable(RuntimeError):
    """The espeak-ng binary is not installed."""


@cache
def espeak_path() -> str | None:
    """Absolute path of the espeak-ng binary, or None."""
    return shutil.which(ESPEAK)


def espeak_available() -> bool:
    """True when espeak-ng can be run."""
    return espeak_path() is not None


@lru_cache(maxsize=512)
def _speak_cached(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    exe = espeak_path()
    if exe is None:
        raise VoiceUnavailable(
            "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng); it is "
            "needed for sung vocals"
        )
    with tempfile.TemporaryDirectory(prefix="demix-espeak-") as tmp:
        wav = Path(tmp) / "s.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), "--", text]
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        if done.returncode != 0 or not wav.is_file():
            msg = done.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"espeak-ng failed for voice {voice!r}, text {text!r}: {msg}")
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected {ESPEAK_RATE}")
    audio = audio[:, 0]
    audio.setflags(write=False)
    return audio


def speak(text: str, voice: str = "en", speed: int = 130, pitch: int = 50) -> np.ndarray:
    """``text`` spoken by espeak-ng ``voice`` (e.g. ``"de+f3"``), silence trimmed.

    Args:
        speed: words per minute (80..450).
        pitch: espeak's pitch adjustment, 0..99.

    Returns:
        float32 ``[n]`` at :data:`ESPEAK_RATE` (read-only, shared by the cache); at least one
        sample.
    """
    audio = _speak_cached(text, voice, int(speed), int(pitch))
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    if loud.size == 0:
        return audio[:1]
    return audio[max(0, loud[0] - 32) : loud[-1] + 33]
