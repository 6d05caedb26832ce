"""Layer 3, the on-device contract: everything a phone app reproduces around the model.

Holds the decoding rules and WAV writing (:mod:`.audio`), the channel rules (:mod:`.channels`),
the windowed-sinc resampler (:mod:`.resample`), the chunk plan and its geometry
(:mod:`.chunking`), the artifact metadata (:mod:`.artifacts`), the backends that run a chunk
(:mod:`.backends`: the eager model; :mod:`.runtimes`: ExecuTorch, TorchScript-lite,
onnxruntime) and the reference runner that stitches chunks into stems (:mod:`.runner`).
``android_bridge/`` mirrors this layer class for module (docs/architecture.md).

May import: torch, numpy, soundfile, :mod:`mobile_core.errors`, and the public names of
:mod:`mobile_core.transform` and :mod:`mobile_core.model` (for the chunk geometry and the eager
backend only). Nothing from ``cli`` or ``export``.
"""
