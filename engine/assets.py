"""Locations of the bundled assets (sample clip and default model) in a source checkout."""

from __future__ import annotations

from pathlib import Path

from engine.errors import InputError, ModelError

# engine/ sits at the repository root next to assets/ (the project is installed editable).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL_NAME = "hg3-w128-128.onnx"
DEFAULT_CLIP_NAME = "sports2d_walker_720p.mp4"


def default_model_path() -> Path:
    path = ASSETS_DIR / "models" / DEFAULT_MODEL_NAME
    if not path.is_file():
        raise ModelError(f"the bundled model {path} is missing; pass --model or restore assets/models/")
    return path


def default_clip_path() -> Path:
    path = ASSETS_DIR / "media" / DEFAULT_CLIP_NAME
    if not path.is_file():
        raise InputError(f"the bundled clip {path} is missing; pass an input or restore assets/media/")
    return path
