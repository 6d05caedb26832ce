"""Write a :class:`~.song.Song` as a type-1 Standard MIDI File (one track per part)."""

from __future__ import annotations

from pathlib import Path

import mido

from .song import BEND, CONTROL, NOTE_OFF, NOTE_ON, PPQ, PROGRAM, Event, Song

_KEYS = "C C# D Eb E F F# G Ab A Bb B".split()


def _message(e: Event) -> mido.Message:
    if e.kind == NOTE_ON:
        return mido.Message("note_on", channel=e.channel, note=e.a, velocity=e.b)
    if e.kind == NOTE_OFF:
        return mido.Message("note_off", channel=e.channel, note=e.a, velocity=64)
    if e.kind == CONTROL:
        return mido.Message("control_change", channel=e.channel, control=e.a, value=e.b)
    if e.kind == BEND:
        return mido.Message("pitchwheel", channel=e.channel, pitch=e.a - 8192)
    if e.kind == PROGRAM:  # bank 128 (drum kits) is implied by channel 10
        return mido.Message("program_change", channel=e.channel, program=e.b)
    raise ValueError(f"unknown event kind {e.kind}")


def _track(name: str, timed: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def write_midi(song: Song, path: Path | str) -> None:
    """Write ``song`` to ``path`` (tempo, meter, key, section markers, one track per part)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    meta: list[tuple[int, mido.MetaMessage]] = [
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo))),
        (0, mido.MetaMessage("time_signature", numerator=song.beats_per_bar, denominator=4)),
    ]
    if song.mode in ("major", "minor"):
        key = _KEYS[song.key] + ("m" if song.mode == "minor" else "")
        meta.append((0, mido.MetaMessage("key_signature", key=key)))
    for sec in song.sections:
        meta.append((sec.start_bar * song.bar_ticks, mido.MetaMessage("marker", text=sec.name)))
    mid.tracks.append(_track(f"synthetic song {song.seed} ({song.style})", meta))
    for part in song.parts:
        timed = [(e.tick, _message(e)) for e in part.events()]
        mid.tracks.append(_track(f"{part.stem}: {part.name}", timed))
    mid.save(str(path))
