"""Typed errors raised by library code.

Only the command-line layer (``engine.cli_support``) turns these into a one-line message and an
exit code; library code never prints or exits.
"""

from __future__ import annotations


class HgposeError(Exception):
    """Base class of every error a user can cause (bad input, bad model, bad option)."""

    exit_code = 1


class InputError(HgposeError):
    """A missing, unreadable or undecodable input (video, image, folder, camera)."""

    exit_code = 2


class ModelError(HgposeError):
    """A missing, corrupt or incompatible model file (ONNX, checkpoint or TensorRT engine)."""

    exit_code = 3


class BackendError(HgposeError):
    """An unknown backend, or one whose runtime is not installed on this machine."""

    exit_code = 4


class OutputError(HgposeError):
    """An output location that cannot be written."""

    exit_code = 5


class ConfigError(HgposeError):
    """An invalid configuration value or file."""

    exit_code = 6
