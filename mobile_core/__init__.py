"""Runtime maths for on-device demixing: sliCQT, separator graph, reference runner, CLI.

Depends only on torch, numpy and soundfile.
"""
