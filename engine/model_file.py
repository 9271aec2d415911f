"""Reading model files and their embedded metadata, without torch.

Kinds, by extension: ``.onnx`` (metadata in the ONNX ``metadata_props`` under key ``hgpose``),
``.pt`` checkpoints (need torch; see ``engine.checkpoint``), ``.engine`` TensorRT plans (metadata in
the JSON sidecar ``<name>.engine.json``).
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import ModelError
from engine.metadata import METADATA_KEY, ModelMetadata

MODEL_SUFFIXES = (".onnx", ".pt", ".engine")


def model_kind(path: Path) -> str:
    """``"onnx"``, ``"checkpoint"`` or ``"engine"`` by extension; ``ModelError`` otherwise."""
    suffix = Path(path).suffix.lower()
    kinds = {".onnx": "onnx", ".pt": "checkpoint", ".pth": "checkpoint", ".engine": "engine"}
    if suffix not in kinds:
        raise ModelError(f"{path}: unknown model type {suffix or '(no extension)'}; "
                         "expected .onnx, .pt or .engine")
    return kinds[suffix]


def require_file(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelError(f"model path {path} is not a file")
    return path


def read_onnx_metadata(path: Path) -> ModelMetadata:
    """Metadata stored in an ONNX file by ``hgpose export``; the weights are not loaded."""
    import onnx

    require_file(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for corrupt files
        raise ModelError(f"{path} is not a valid ONNX file ({exc.__class__.__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ModelError(f"{path} has no hgpose metadata; export it with `hgpose export`")
    return ModelMetadata.from_json(props[METADATA_KEY])
