"""Ragged sliCQT spectrogram picture: ``demix-spectrogram SONG -o out.png``.

Each block keeps its own time resolution: its slices are overlap-added (50 % overlap, as the
slices overlap) into ``[F_b, frames_b]`` magnitudes, and every block is stretched to the common
image width, so low blocks show fewer, wider time cells and high blocks many narrow ones.
Frequency channels are stacked bottom (DC) to top (Nyquist), one row band per channel, coloured
in dB (80 dB range). The PNG is written with zlib only (no plotting library).
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from ..transform.slicqt import SliCQT, magnitude
from .guard import OneLineParser, console_main, say

# a perceptually ordered dark-to-bright colour ramp (anchor points, interpolated)
_RAMP = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
     [250, 193, 39], [252, 255, 164]], dtype=np.float64
)


def block_images(blocks_mag: list[torch.Tensor]) -> list[np.ndarray]:
    """Per block ``[F_b, S, T_b]`` magnitudes -> ``[F_b, frames_b]`` by overlap-adding slices."""
    out = []
    for mag in blocks_mag:
        f, s, t = mag.shape
        half = t // 2
        acc = torch.zeros(f, (s + 1) * half, dtype=mag.dtype)
        for i in range(s):
            acc[:, i * half : i * half + t] += mag[:, i]
        out.append(acc[:, half : s * half].numpy())  # drop the leading padding half-slice
    return out


def render(blocks_mag: list[torch.Tensor], width: int = 1200, row_height: int = 3,
           dynamic_range_db: float = 80.0) -> np.ndarray:
    """Ragged magnitudes (one audio channel) -> RGB image ``[H, width, 3]`` uint8."""
    rows = []
    for img in block_images(blocks_mag):
        frames = img.shape[1]
        cols = np.minimum((np.arange(width) * frames) // width, frames - 1)
        rows.append(img[:, cols])
    grid = np.concatenate(rows, axis=0)[::-1]  # high frequencies on top
    db = 20 * np.log10(grid + 1e-12)
    top = db.max()
    level = np.clip((db - (top - dynamic_range_db)) / dynamic_range_db, 0.0, 1.0)
    pos = level * (len(_RAMP) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(_RAMP) - 1)
    frac = (pos - lo)[..., None]
    rgb = (_RAMP[lo] * (1 - frac) + _RAMP[hi] * frac).astype(np.uint8)
    return np.repeat(rgb, row_height, axis=0)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an ``[H, W, 3]`` uint8 image as an 8-bit RGB PNG."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(png)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def spectrogram_png(audio: torch.Tensor, path: str | Path, config: str = "xumx-rt",
                    width: int = 1200) -> tuple[int, int]:
    """Write the sliCQT picture of ``audio[C, N]`` (44.1 kHz; channels averaged); returns (H, W)."""
    t = SliCQT.from_config(config)
    with torch.inference_mode():
        mags = magnitude(t(audio.float().mean(dim=0, keepdim=True)[None]))
    img = render([m[0, 0] for m in mags], width=width)
    write_png(path, img)
    return img.shape[0], img.shape[1]


MAX_WIDTH = 20000
"""Widest picture drawn, in pixels."""


@console_main("demix-spectrogram")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``demix-spectrogram``: 0 ok, 1 one error line, 2 a bad option."""
    parser = OneLineParser(
        prog="demix-spectrogram", description="Write a PNG of the ragged sliCQT of an audio file."
    )
    parser.add_argument("audio", nargs="?", help="audio file (WAV/FLAC/OGG/MP3); any rate")
    parser.add_argument("--example", action="store_true", help="use the bundled example song")
    parser.add_argument("-o", "--out", default=None,
                        help="PNG path (default: <audio>.png; with --example: example.png "
                             "in the current folder)")
    parser.add_argument("--config", default="xumx-rt", help="transform configuration")
    parser.add_argument("--width", type=int, default=1200, help="image width in pixels")
    args = parser.parse_args(argv)
    from ..assets import EXAMPLE_SONG
    from ..contract.audio import read
    from ..contract.files import same_file
    from ..contract.resample import resample
    from ..errors import DemixError

    if not 1 <= args.width <= MAX_WIDTH:
        parser.error(f"--width must be between 1 and {MAX_WIDTH} pixels, got {args.width}")
    if args.example:
        args.audio = str(EXAMPLE_SONG)
    if not args.audio:
        parser.error("give an audio file or --example")
    if args.out:
        out = args.out
    elif args.example:  # never into the installed package's assets/
        out = "example.png"
    else:
        out = str(Path(args.audio).with_suffix(".png"))
    if same_file(args.audio, out):
        raise DemixError(f"{out}: refusing to write the picture over the input {args.audio}")
    package = Path(EXAMPLE_SONG).resolve().parents[1]
    if Path(out).resolve().is_relative_to(package):
        raise DemixError(f"{out}: refusing to write into the installed package ({package})")
    try:
        audio, sr = read(args.audio)
        if sr != 44100:
            audio = resample(audio, sr, 44100)
        h, w = spectrogram_png(audio, out, args.config, args.width)
    except ValueError as exc:
        raise DemixError(str(exc)) from None
    say(f"wrote {out} ({w}x{h})", "demix-spectrogram")
    return 0


if __name__ == "__main__":
    sys.exit(main())
