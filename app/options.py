"""The app's start-up configuration, as parsed from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.source_spec import SourceSpec

DEFAULT_WINDOW_SIZE = (1280, 760)


@dataclass(frozen=True)
class AppOptions:
    """Everything ``hgpose app`` was started with.

    Attributes:
        source: what to open first.
        model, backend: the model file and the backend it was opened on.
        threshold: initial confidence threshold for drawing joints.
        speed: file playback speed (1.0 real time, 0.0 as fast as inference allows).
        loop: restart files at their end.
        output_dir: where recordings and screenshots go.
        max_frames: automation: process this many frames, then save the screenshot and exit.
        screenshot: automation: where to save the window's screenshot on exit.
        window_size: initial (width, height).
        precision: ``auto``, ``fp32`` or ``int8`` (``engine.backends.registry``), also for models loaded later.
        spinning: ONNX Runtime's CPU thread spinning; off by default, since the app shares the cores
            with its own capture and UI threads (README, "Speed").
        flip: the flip mode to start with (``on``, ``unsure`` or ``off``: the *Flip test* box).
            ``unsure`` by default: on the reference clips it found the person as often as the flip
            test on every frame, for a fraction of the second inference (README, tracking).
        zoom_test: the *Zoom test* box to start with: each pose crop read again zoomed in for
            better-placed joints (:attr:`engine.pipeline.PipelineConfig.zoom_test`); off by default:
            live video wants the frame rate more than twice the pose crops.
    """

    source: SourceSpec
    model: Path
    backend: str = "auto"
    threshold: float = 0.3
    speed: float = 1.0
    loop: bool = True
    output_dir: Path = Path("hgpose-recordings")
    max_frames: int | None = None
    screenshot: Path | None = None
    window_size: tuple[int, int] = DEFAULT_WINDOW_SIZE
    precision: str = "auto"
    spinning: bool | None = False
    flip: str = "unsure"
    zoom_test: bool = False

    @property
    def automated(self) -> bool:
        return self.max_frames is not None
