"""Reading model files and their embedded metadata, without torch.

Kinds, by extension: ``.onnx`` (metadata in the ONNX ``metadata_props`` under key ``hgpose``),
``.pt`` checkpoints (need torch; see ``engine.checkpoint``), ``.engine`` TensorRT plans (metadata in
the JSON sidecar ``<name>.engine.json``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from engine.errors import ModelError
from engine.metadata import METADATA_KEY, ModelMetadata

MODEL_SUFFIXES = (".onnx", ".pt", ".engine")
# The INT8 sibling of ``m.onnx`` is ``m.int8.onnx`` (``hgpose export --int8``): same stem, so every
# file of a model is found from any one of them.
INT8_SUFFIX = ".int8.onnx"


def model_kind(path: Path) -> str:
    """``"onnx"``, ``"checkpoint"`` or ``"engine"`` by extension; ``ModelError`` otherwise."""
    suffix = Path(path).suffix.lower()
    kinds = {".onnx": "onnx", ".pt": "checkpoint", ".pth": "checkpoint", ".engine": "engine"}
    if suffix not in kinds:
        raise ModelError(f"{path}: unknown model type {suffix or '(no extension)'}; "
                         "expected .onnx, .pt or .engine")
    return kinds[suffix]


def model_base(path: Path) -> Path:
    """The path without its model extension(s): ``m.int8.onnx``, ``m.onnx``, ``m.pt`` -> ``m``."""
    path = Path(path)
    if path.name.lower().endswith(INT8_SUFFIX):
        return path.with_name(path.name[:-len(INT8_SUFFIX)])
    return path.with_suffix("")


def is_int8_onnx(path: Path) -> bool:
    return Path(path).name.lower().endswith(INT8_SUFFIX)


def int8_sibling(path: Path) -> Path:
    """Where the INT8 file of ``path``'s model lives (it may not exist)."""
    base = model_base(path)
    return base.with_name(base.name + INT8_SUFFIX)


# The INT8 file records which FP32 file it was quantised from (``training[INT8_SOURCE_KEY]``), so
# an INT8 sibling left over from an earlier export is never run in place of a newer ``m.onnx``.
INT8_SOURCE_KEY = "fp32_sha256"


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes (a 6.7 MB model: about 10 ms)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def stale_int8_reason(int8_meta: ModelMetadata, fp32_path: Path | None) -> str | None:
    """Why an INT8 file must not stand in for ``fp32_path`` (it came from another FP32 file), or None.

    An INT8 file without the record (made before it existed) or without an FP32 sibling is trusted.
    """
    source = int8_meta.training.get(INT8_SOURCE_KEY)
    if not source or fp32_path is None or not Path(fp32_path).is_file() or file_sha256(fp32_path) == source:
        return None
    return (f"it was not quantised from the current {Path(fp32_path).name} (re-run `hgpose export "
            f"{Path(fp32_path).with_suffix('.pt').name} --out {Path(fp32_path).name} --int8 ...`)")


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
    return metadata_from_props({p.key: p.value for p in model.metadata_props}, path)


def metadata_from_props(props: Mapping[str, str], path: Path) -> ModelMetadata:
    """The hgpose metadata among an ONNX file's ``metadata_props`` (as read by onnx, or by ONNX
    Runtime's ``custom_metadata_map``, which spares the runtime importing onnx)."""
    if METADATA_KEY not in props:
        raise ModelError(f"{path} has no hgpose metadata; export it with `hgpose export`")
    return ModelMetadata.from_json(props[METADATA_KEY])
