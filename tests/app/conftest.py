"""Fixtures for the desktop app tests: offscreen Qt, a window factory on the bundled clip."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt: no display here or in CI

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")


from app.main_window import MainWindow
from app.options import AppOptions
from app.qt_support import quiet_platform_noise
from app.source_spec import SourceSpec
from engine.assets import default_clip_path, default_model_path
from engine.backends.registry import open_backend

quiet_platform_noise()


@pytest.fixture(scope="session")
def clip_path() -> Path:
    return default_clip_path()


@pytest.fixture
def make_window(qtbot, tmp_path: Path, clip_path: Path) -> Iterator[Callable[..., MainWindow]]:
    """``make_window(source=None, **options)``: a shown window with a freshly opened backend."""
    made: list[MainWindow] = []

    def make(source: SourceSpec | None = None, opener=None, **overrides) -> MainWindow:
        model = default_model_path()
        options = AppOptions(source or SourceSpec("video", str(clip_path)), model, "auto",
                             output_dir=tmp_path / "out", window_size=(1100, 700), **overrides)
        extra = {"opener": opener} if opener is not None else {}
        window = MainWindow(options, open_backend(model, "auto"), **extra)
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()
