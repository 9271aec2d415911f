"""PyTorch checkpoints that carry their own metadata (needs torch).

File layout (``torch.save`` of a dict): ``metadata`` (JSON text, see ``engine.metadata``),
``state_dict`` (model weights) and, for training checkpoints, ``optimizer``, ``scheduler``,
``epoch``, ``step``, ``rng`` and ``history``. Inference needs only the first two.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_path
from engine.errors import ModelError
from engine.metadata import ModelMetadata
from engine.model import StackedHourglass, build_model


def save_checkpoint(path: Path, model: StackedHourglass, metadata: ModelMetadata,
                    **training_state: Any) -> Path:
    """Write a checkpoint atomically; ``training_state`` adds optimiser, epoch, etc."""
    state = {"metadata": metadata.to_json(),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             **training_state}
    with atomic_path(Path(path)) as tmp:
        torch.save(state, tmp)
    return Path(path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load the raw checkpoint dict on the CPU, with clear errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    try:
        # weights_only=False: training checkpoints hold numpy RNG state; only load files you trust.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise ModelError(f"{path} is not a valid hgpose checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or "metadata" not in state or "state_dict" not in state:
        raise ModelError(f"{path} is not an hgpose checkpoint (no metadata or weights)")
    return state


def load_checkpoint(path: Path) -> tuple[StackedHourglass, ModelMetadata]:
    """Build the network described by the checkpoint's metadata and load its weights (eval mode)."""
    return model_from_state(read_checkpoint(path), path)


def model_from_state(state: dict[str, Any], path: Path) -> tuple[StackedHourglass, ModelMetadata]:
    """The network and metadata of an already-read checkpoint dict (eval mode); ``path`` names it in errors."""
    meta = ModelMetadata.from_json(state["metadata"])
    model = build_model(meta.config)
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{path}: weights do not match the stored architecture ({first})") from None
    return model.eval(), meta
