"""Minimal ctypes binding to libfluidsynth (>= 2.2): just what offline stem rendering needs.

Hand-written rather than ``pyfluidsynth`` because we need ``fluid_synth_process`` (planar float
output on several stereo buses, one reverb/chorus unit per bus, no dither, no int16 clipping),
the per-group effect setters and soundfont sharing between synths; no audio driver, shell or
sequencer is touched. Only stable public C API functions are bound.

Two classes:

* :class:`SoundFont` loads a ``.sf2`` once (the slow part: ~150 MB of samples) into a holder
  synth. Keep one per process.
* :class:`Synth` is a fresh, cheap (a few ms) synth that borrows the loaded soundfont. Make a new
  one per stem so that no state (voices and their slots, controllers, reverb/chorus delay lines
  and LFO phases, the partially consumed 64-frame block) carries over: rendering is then a
  pure function of the events. (``fluid_synth_system_reset`` does not clear the reverb.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from pathlib import Path

import numpy as np

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
"""The GM soundfont from Debian's ``fluid-soundfont-gm`` package."""

DRUM_BANK = 128
"""SoundFont bank holding the GM drum kits."""

_LIBRARY_NAMES = ("libfluidsynth.so.3", "libfluidsynth.so.2", "libfluidsynth.dylib")
_FLUID_OK = 0
_FLUID_FAILED = -1
_LOG_LEVELS = 5  # FLUID_PANIC .. FLUID_DBG


class FluidSynthUnavailable(RuntimeError):
    """libfluidsynth could not be loaded."""


def _declare(lib: ctypes.CDLL) -> None:
    p, i, d, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
    sigs: dict[str, tuple[object, list[object]]] = {
        "new_fluid_settings": (p, []),
        "delete_fluid_settings": (None, [p]),
        "fluid_settings_setnum": (i, [p, c, d]),
        "fluid_settings_setint": (i, [p, c, i]),
        "new_fluid_synth": (p, [p]),
        "delete_fluid_synth": (None, [p]),
        "fluid_synth_sfload": (i, [p, c, i]),
        "fluid_synth_get_sfont_by_id": (p, [p, i]),
        "fluid_synth_add_sfont": (i, [p, p]),
        "fluid_synth_remove_sfont": (i, [p, p]),
        "fluid_synth_program_select": (i, [p, i, i, i, i]),
        "fluid_synth_noteon": (i, [p, i, i, i]),
        "fluid_synth_noteoff": (i, [p, i, i]),
        "fluid_synth_cc": (i, [p, i, i, i]),
        "fluid_synth_pitch_bend": (i, [p, i, i]),
        "fluid_synth_process": (i, [p, i, i, p, i, p]),
        "fluid_synth_get_active_voice_count": (i, [p]),
        "fluid_synth_set_reverb_group_roomsize": (i, [p, i, d]),
        "fluid_synth_set_reverb_group_damp": (i, [p, i, d]),
        "fluid_synth_set_reverb_group_width": (i, [p, i, d]),
        "fluid_synth_set_reverb_group_level": (i, [p, i, d]),
        "fluid_synth_set_chorus_group_nr": (i, [p, i, i]),
        "fluid_synth_set_chorus_group_level": (i, [p, i, d]),
        "fluid_synth_set_chorus_group_speed": (i, [p, i, d]),
        "fluid_synth_set_chorus_group_depth": (i, [p, i, d]),
        "fluid_set_log_function": (p, [i, p, p]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


@cache
def load_library() -> ctypes.CDLL:
    """Load and declare libfluidsynth once per process; raise :class:`FluidSynthUnavailable`."""
    candidates = list(_LIBRARY_NAMES)
    found = ctypes.util.find_library("fluidsynth")
    if found:
        candidates.insert(0, found)
    errors = []
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            _declare(lib)
        except (OSError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
            continue
        for level in range(_LOG_LEVELS):  # silence FluidSynth's own stderr logging
            lib.fluid_set_log_function(level, None, None)
        return lib
    raise FluidSynthUnavailable(
        "libfluidsynth >= 2.2 not found (Debian/Ubuntu: apt-get install libfluidsynth3). "
        + "; ".join(errors)
    )


def fluidsynth_available(soundfont: Path | str = DEFAULT_SOUNDFONT) -> bool:
    """True when libfluidsynth loads and ``soundfont`` exists."""
    try:
        load_library()
    except FluidSynthUnavailable:
        return False
    return Path(soundfont).is_file()


def _new_settings(lib: ctypes.CDLL, nums: dict[str, float], ints: dict[str, int]) -> int:
    settings = lib.new_fluid_settings()
    if not settings:
        raise RuntimeError("new_fluid_settings failed")
    for key, value in nums.items():
        if lib.fluid_settings_setnum(settings, key.encode(), float(value)) != _FLUID_OK:
            raise RuntimeError(f"FluidSynth rejected setting {key}={value}")
    for key, ivalue in ints.items():
        if lib.fluid_settings_setint(settings, key.encode(), int(ivalue)) != _FLUID_OK:
            raise RuntimeError(f"FluidSynth rejected setting {key}={ivalue}")
    return settings


class SoundFont:
    """A soundfont loaded once into a silent holder synth, to be shared by :class:`Synth`."""

    def __init__(self, path: Path | str = DEFAULT_SOUNDFONT):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"soundfont not found: {self.path}")
        self._lib = lib = load_library()
        self._settings = _new_settings(
            lib, {}, {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 16}
        )
        self._holder = lib.new_fluid_synth(self._settings)
        sfont_id = lib.fluid_synth_sfload(self._holder, str(self.path).encode(), 0)
        if sfont_id == _FLUID_FAILED:
            self.close()
            raise RuntimeError(f"FluidSynth could not load soundfont {self.path}")
        self.handle: int = lib.fluid_synth_get_sfont_by_id(self._holder, sfont_id)

    def close(self) -> None:
        """Free the soundfont (no :class:`Synth` may still use it)."""
        if getattr(self, "_holder", None):
            self._lib.delete_fluid_synth(self._holder)
            self._holder = None
        if getattr(self, "_settings", None):
            self._lib.delete_fluid_settings(self._settings)
            self._settings = None


class Synth:
    """A fresh offline synth borrowing a loaded soundfont, with ``groups`` stereo buses.

    MIDI channel ``c`` plays on bus ``c % groups``: its dry signal *and* the output of that bus's
    own reverb and chorus unit go to that bus only. Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(
        self, soundfont: SoundFont, sample_rate: int = 44100, groups: int = 1, gain: float = 0.3
    ):
        self._lib = lib = load_library()
        self.groups = groups
        self.sample_rate = sample_rate
        self._soundfont = soundfont
        self._settings = _new_settings(
            lib,
            {"synth.sample-rate": sample_rate, "synth.gain": gain},
            {
                "synth.audio-channels": groups,
                "synth.audio-groups": groups,
                "synth.effects-groups": groups,
                "synth.effects-channels": 2,
                "synth.reverb.active": 1,
                "synth.chorus.active": 1,
                "synth.polyphony": 512,
                "synth.cpu-cores": 1,
                "synth.threadsafe-api": 0,
            },
        )
        self._synth = lib.new_fluid_synth(self._settings)
        if not self._synth:
            lib.delete_fluid_settings(self._settings)
            raise RuntimeError("new_fluid_synth failed")
        self.sfont_id = lib.fluid_synth_add_sfont(self._synth, soundfont.handle)
        if self.sfont_id == _FLUID_FAILED:
            self.close()
            raise RuntimeError("fluid_synth_add_sfont failed")
        self._ptrs = np.zeros(6 * groups, dtype=np.uint64)  # 2*groups dry + 4*groups fx
        # fx layout per group g: reverb L, reverb R, chorus L, chorus R -> alias to bus g's L/R
        fx_bus = np.array([2 * (j // 4) + (j % 2) for j in range(4 * groups)])
        self._bus_of_ptr = np.concatenate([np.arange(2 * groups), fx_bus])

    # -- events ---------------------------------------------------------------------------
    def program_select(self, channel: int, bank: int, program: int) -> None:
        """Select ``program`` (0-based GM number) of ``bank`` (:data:`DRUM_BANK` for kits)."""
        ok = self._lib.fluid_synth_program_select(
            self._synth, channel, self.sfont_id, bank, program
        )
        if ok == _FLUID_FAILED:
            raise ValueError(f"soundfont has no preset bank={bank} program={program}")

    def noteon(self, channel: int, key: int, velocity: int) -> None:
        self._lib.fluid_synth_noteon(self._synth, channel, key, velocity)

    def noteoff(self, channel: int, key: int) -> None:
        self._lib.fluid_synth_noteoff(self._synth, channel, key)

    def cc(self, channel: int, control: int, value: int) -> None:
        self._lib.fluid_synth_cc(self._synth, channel, control, value)

    def pitch_bend(self, channel: int, value: int) -> None:
        """``value`` in 0..16383, centre 8192."""
        self._lib.fluid_synth_pitch_bend(self._synth, channel, value)

    # -- effects (per bus) ----------------------------------------------------------------
    def set_reverb(
        self, group: int, roomsize: float, damp: float, width: float, level: float
    ) -> None:
        """Reverb unit of bus ``group``: room size, damping, level in [0, 1]; width in [0, 100]."""
        lib, s = self._lib, self._synth
        lib.fluid_synth_set_reverb_group_roomsize(s, group, roomsize)
        lib.fluid_synth_set_reverb_group_damp(s, group, damp)
        lib.fluid_synth_set_reverb_group_width(s, group, width)
        lib.fluid_synth_set_reverb_group_level(s, group, level)

    def set_chorus(self, group: int, voices: int, level: float, speed: float, depth: float) -> None:
        """Chorus unit of bus ``group``: ``voices`` 0..99, ``level`` 0..10, ``speed`` Hz,
        ``depth`` ms."""
        lib, s = self._lib, self._synth
        lib.fluid_synth_set_chorus_group_nr(s, group, voices)
        lib.fluid_synth_set_chorus_group_level(s, group, level)
        lib.fluid_synth_set_chorus_group_speed(s, group, speed)
        lib.fluid_synth_set_chorus_group_depth(s, group, depth)

    # -- audio ----------------------------------------------------------------------------
    def process(self, out: np.ndarray, start: int, frames: int) -> None:
        """Add ``frames`` frames of every bus into ``out[:, start:start + frames]``.

        ``out``: float32 C-contiguous planar array ``[2 * groups, n]`` (bus ``g`` is rows
        ``2g`` (left) and ``2g + 1`` (right)); it should start zeroed.
        """
        if frames <= 0:
            return
        if (
            out.dtype != np.float32
            or not out.flags.c_contiguous
            or out.ndim != 2
            or out.shape[0] != 2 * self.groups
        ):
            raise ValueError(f"out must be C-contiguous float32 [{2 * self.groups}, n]")
        if start < 0 or start + frames > out.shape[1]:
            raise IndexError("process past the end of the output buffer")
        row = out.strides[0]
        self._ptrs[:] = out.ctypes.data + self._bus_of_ptr * row + 4 * start
        base = self._ptrs.ctypes.data
        n_out = 2 * self.groups
        ok = self._lib.fluid_synth_process(
            self._synth, frames, 2 * n_out, base + 8 * n_out, n_out, base
        )
        if ok != _FLUID_OK:
            raise RuntimeError("fluid_synth_process failed")

    def active_voices(self) -> int:
        return int(self._lib.fluid_synth_get_active_voice_count(self._synth))

    def close(self) -> None:
        if getattr(self, "_synth", None):
            if getattr(self, "sfont_id", _FLUID_FAILED) != _FLUID_FAILED:
                self._lib.fluid_synth_remove_sfont(self._synth, self._soundfont.handle)
            self._lib.delete_fluid_synth(self._synth)
            self._synth = None
        if getattr(self, "_settings", None):
            self._lib.delete_fluid_settings(self._settings)
            self._settings = None

    def __enter__(self) -> Synth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
