"""Qt process-level settings shared by the app and its tests."""

from __future__ import annotations

import sys

from PyQt6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

# The offscreen platform prints this on every layout change; it says nothing about the app.
_NOISE = ("This plugin does not support propagateSizeHints()",)


def _handler(kind: QtMsgType, context: QMessageLogContext, message: str | None) -> None:
    if message and not message.startswith(_NOISE):
        print(message, file=sys.stderr)


def quiet_platform_noise() -> None:
    """Drop known-harmless platform messages; everything else still reaches stderr."""
    qInstallMessageHandler(_handler)
