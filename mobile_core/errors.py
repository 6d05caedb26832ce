"""User-facing error types.

A `DemixError` is an error the user can act on (a bad file, a bad option). The command line prints
its message as one line, without a traceback, so messages must be complete sentences that name the
file or value at fault. Anything else that escapes is a bug: the console scripts
(:mod:`mobile_core.cli.guard`) print it as one line too, ``internal error (Type: message)``, and
``DEMIX_DEBUG=1`` in the environment shows its traceback.
"""

from __future__ import annotations

__all__ = ["AudioError", "DemixError", "ModelFileError"]


class DemixError(Exception):
    """Base class of the errors the command line reports as one clear line."""


class AudioError(DemixError):
    """The input audio (or the place to write output audio) cannot be used."""


class ModelFileError(DemixError):
    """A model file or exported artifact is missing, corrupt, of the wrong kind or version."""
