"""Shared fixtures: the bundled assets and tiny models made on the fly (no downloads, no ../shared)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.assets import DEFAULT_CLIP_NAME, DEFAULT_MODEL_NAME

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CLIP = REPO / "assets" / "media" / DEFAULT_CLIP_NAME
BUNDLED_MODEL = REPO / "assets" / "models" / DEFAULT_MODEL_NAME  # named once, in engine.assets
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def bundled_clip() -> Path:
    assert BUNDLED_CLIP.is_file(), "the bundled clip is part of the repository"
    return BUNDLED_CLIP


@pytest.fixture(scope="session")
def clip_excerpt(bundled_clip: Path, tmp_path_factory: pytest.TempPathFactory):
    """``clip_excerpt(frames, name)``: the first ``frames`` frames of the bundled clip as a small mp4
    (a short real clip for fast tests)."""
    import cv2

    def make(frames: int, name: str) -> Path:
        dst = tmp_path_factory.mktemp("clip") / name
        cap = cv2.VideoCapture(str(bundled_clip))
        out = None
        for _ in range(frames):
            ok, img = cap.read()
            assert ok
            if out is None:
                out = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (img.shape[1], img.shape[0]))
            out.write(img)
        assert out is not None
        out.release()
        cap.release()
        return dst

    return make


@pytest.fixture(scope="session")
def bundled_model() -> Path:
    assert BUNDLED_MODEL.is_file(), "the bundled model is part of the repository"
    return BUNDLED_MODEL


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised HG-1, width 16, 64 px checkpoint (LSP14), BatchNorm statistics perturbed
    so the network is not an identity-like function."""
    torch = pytest.importorskip("torch")
    from engine.checkpoint import save_checkpoint
    from engine.metadata import HourglassConfig, ModelMetadata
    from engine.model import build_model

    torch.manual_seed(0)
    config = HourglassConfig(num_stacks=1, width=16, num_joints=14, input_size=64)
    model = build_model(config)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    for head in model.heads:
        torch.nn.init.normal_(head.weight, std=0.1)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    save_checkpoint(path, model, ModelMetadata(skeleton="lsp14", config=config, name="tiny"))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint: Path) -> Path:
    from engine.export import export_onnx

    out = tiny_checkpoint.with_suffix(".onnx")
    export_onnx(tiny_checkpoint, out)
    return out


@pytest.fixture
def refused(capsys: pytest.CaptureFixture[str]):
    """``refused(main, args)``: run a command that must refuse its command line; returns (exit code, stderr).

    A bad option value stops argparse (SystemExit), a bad value found later returns the code: both
    count, and either way stderr must be exactly one line.
    """

    def run(main, args: list[str]) -> tuple[int, str]:
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        return code, err

    return run


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """``small_tmpfs(size)``: a folder on a fresh tmpfs of ``size`` (e.g. ``"1m"``): a full disk for real.
    Skips where mounting is not permitted (not root, or a container without the capability)."""
    import shutil
    import subprocess

    mounted: list[Path] = []

    def make(size: str) -> Path:
        if shutil.which("mount") is None:
            pytest.skip("no mount command")
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _faststart(data: bytes) -> bytes:
    """An MP4 with its index (``moov``) moved before the media data, as ``ffmpeg -movflags
    +faststart`` writes it: the chunk offsets in ``stco``/``co64`` shift by the index's size."""
    import struct

    def boxes(buf: bytes, start: int, end: int):
        i = start
        while i < end:
            size, kind = struct.unpack(">I4s", buf[i:i + 8])
            header = 8
            if size == 1:
                size, header = struct.unpack(">Q", buf[i + 8:i + 16])[0], 16
            elif size == 0:
                size = end - i
            yield kind, i, header, size
            i += size

    top = {kind: (i, size) for kind, i, _, size in boxes(data, 0, len(data))}
    (moov_at, moov_size), (mdat_at, _) = top[b"moov"], top[b"mdat"]
    assert moov_at > mdat_at, "already faststart"
    moov = bytearray(data[moov_at:moov_at + moov_size])

    def shift(start: int, end: int) -> None:
        for kind, i, header, size in boxes(moov, start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"):
                shift(i + header, i + size)
            elif kind in (b"stco", b"co64"):
                count = struct.unpack(">I", moov[i + header + 4:i + header + 8])[0]
                width, fmt = (4, ">I") if kind == b"stco" else (8, ">Q")
                for k in range(count):
                    at = i + header + 8 + k * width
                    moov[at:at + width] = struct.pack(fmt, struct.unpack(fmt, moov[at:at + width])[0] + moov_size)

    moov_header = 8
    shift(moov_header, moov_size)
    return data[:mdat_at] + bytes(moov) + data[mdat_at:moov_at] + data[moov_at + moov_size:]


@pytest.fixture(scope="session")
def truncated_clip(clip_excerpt) -> Path:
    """The first 40 frames of the bundled clip as a faststart MP4 (index first) cut at half its
    bytes: the index still promises 40 frames, the data holds about half of them, as a download
    cut short would."""
    excerpt = clip_excerpt(40, "excerpt40.mp4")
    data = _faststart(excerpt.read_bytes())
    path = excerpt.with_name("walker_cut.mp4")
    path.write_bytes(data[: len(data) // 2])
    return path
@pytest.fixture(scope="session")
def clip_crops(bundled_clip: Path) -> Callable[[int, int], np.ndarray]:
    """``clip_crops(size, count)``: (count, size, size, 3) uint8 BGR crops of the bundled clip (boxes
    centred and off-centre on frames spread over the clip): real pixels, e.g. for INT8 calibration."""
    return lambda size, count: _clip_crops(bundled_clip, size, count)


def _clip_crops(clip: Path, size: int, count: int) -> np.ndarray:
    import cv2

    from engine.crop import CropBox, warp_crop

    cap = cv2.VideoCapture(str(clip))
    frames = []
    for _ in range(4):
        for _ in range(20):
            cap.grab()
        ok, img = cap.read()
        assert ok
        frames.append(img)
    cap.release()
    h, w = frames[0].shape[:2]
    boxes = [CropBox(w / 2 + dx, h / 2, h * s) for dx in (-200, 0, 200) for s in (0.6, 1.0)]
    crops = [warp_crop(f, b, size) for f in frames for b in boxes]
    return np.stack(crops[:count])


@pytest.fixture(scope="session")
def tiny_int8(tiny_onnx: Path, clip_crops: Callable[[int, int], np.ndarray],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``m.int8.onnx`` beside a copy ``m.onnx`` of the tiny model, in a folder of their own (beside
    ``tiny_onnx`` it would become what ``auto`` picks): quantised on crops of the bundled clip."""
    import shutil

    import onnx

    from engine.crop import normalise_batch
    from engine.model_file import int8_sibling, read_onnx_metadata
    from engine.quantize import quantize_int8

    fp32 = Path(shutil.copy(tiny_onnx, tmp_path_factory.mktemp("tiny-int8") / "m.onnx"))
    meta = read_onnx_metadata(fp32)
    x = normalise_batch(clip_crops(meta.input_size, 24), meta.normalisation)
    out = int8_sibling(fp32)
    onnx.save(quantize_int8(onnx.load(str(tiny_onnx)), x).model, str(out))
    return out
