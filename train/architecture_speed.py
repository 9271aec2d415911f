"""What a wider, deeper or larger hourglass would cost a crop on this CPU, before training one.

``python -m train.architecture_speed 2x160@128 3x128@128 2x96@192`` builds each architecture
(``STACKSxWIDTH@INPUT``) with random weights (latency does not depend on the values), exports and
quantises it to INT8 exactly as ``hgpose export --int8`` does the bundled model (static QDQ,
calibrated on crops of the bundled clip), and times it beside the bundled INT8 file: ONNX Runtime on
the CPU, batch 1, 2 threads, spinning off, the precision and settings ``auto`` runs on the CPU.
Rounds alternate between the models so that each sees the same load; the figure to keep is the
ratio to the bundled model, which a shared machine's load moves far less than the milliseconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.assets import default_clip_path, default_model_path
from engine.cli_options import positive_int
from engine.cli_support import run_command
from engine.crop import CropBox, normalise_batch, warp_crop
from engine.errors import ConfigError, InputError
from engine.metadata import ModelMetadata

PATTERN = re.compile(r"^(\d+)x(\d+)@(\d+)$")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """An hourglass variant: ``stacks`` hourglasses of ``width`` channels on ``input_size`` px crops."""

    stacks: int
    width: int
    input_size: int

    @property
    def name(self) -> str:
        return f"{self.stacks}x{self.width}@{self.input_size}"

    @classmethod
    def parse(cls, text: str) -> Architecture:
        m = PATTERN.match(text.strip())
        if not m:
            raise ConfigError(f"architecture must read STACKSxWIDTH@INPUT (e.g. 2x160@128), got {text!r}")
        return cls(*(int(g) for g in m.groups()))


def clip_frames(clip: Path, count: int) -> list[np.ndarray]:
    """``count`` (H, W, 3) uint8 BGR frames spread evenly over ``clip``, decoded once and streamed
    (only the frames kept are held)."""
    from engine.sources import VideoSource

    with VideoSource(clip) as source:
        total = source.info.frame_count or count
        picks = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
        frames = [f.image for f in source if f.index in picks]
    if not frames:
        raise InputError(f"cannot decode any frame of {clip}")
    return frames


def central_crops(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 BGR: the central square of each frame, cut as the runtime cuts crops."""
    h, w = frames[0].shape[:2]
    box = CropBox((w - 1) / 2, (h - 1) / 2, float(min(w, h)))
    return np.stack([warp_crop(f, box, size) for f in frames])


def build_int8(arch: Architecture, reference: ModelMetadata, calibration: np.ndarray, out_dir: Path) -> Path:
    """Write the INT8 ONNX file of ``arch`` (random weights, ``reference``'s skeleton, depth and
    normalisation) under ``out_dir``; ``calibration``: (N, S, S, 3) uint8 BGR crops at its input size."""
    import onnx
    import torch

    from engine.checkpoint import save_checkpoint
    from engine.export import build_onnx
    from engine.model import build_model
    from engine.quantize import quantize_int8

    config = dataclasses.replace(reference.config, num_stacks=arch.stacks, width=arch.width,
                                 input_size=arch.input_size)
    torch.manual_seed(0)
    checkpoint = out_dir / f"{arch.name}.pt"
    save_checkpoint(checkpoint, build_model(config).eval(), reference.with_updates(config=config, name=arch.name))
    proto, meta, _ = build_onnx(checkpoint)
    report = quantize_int8(proto, normalise_batch(calibration, meta.normalisation))
    out = out_dir / f"{arch.name}.int8.onnx"
    onnx.save(report.model, str(out))
    return out


def time_models(models: dict[str, Path], rounds: int, iterations: int) -> dict[str, float]:
    """Median batch-1 latency (ms) of each INT8 file, rounds alternating between the models."""
    from engine.backends.onnxruntime_backend import OnnxRuntimeBackend
    from engine.benchmark import bench_batches

    backends = {name: OnnxRuntimeBackend(path, threads=2, spinning=False) for name, path in models.items()}
    p50s: dict[str, list[float]] = {name: [] for name in backends}
    with tqdm(total=rounds * len(backends), desc="timing", unit="model") as bar:
        for _ in range(rounds):
            for name, backend in backends.items():
                p50s[name].append(bench_batches(backend, [1], iterations=iterations)[0].p50_ms)
                bar.update()
    for backend in backends.values():
        backend.close()
    return {name: float(np.median(v)) for name, v in p50s.items()}


def _architecture(text: str) -> Architecture:
    try:
        return Architecture.parse(text)
    except ConfigError as exc:  # argparse turns this into one usage line
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.architecture_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("architectures", nargs="+", type=_architecture, help="STACKSxWIDTH@INPUT, e.g. 2x160@128")
    p.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds (5)")
    p.add_argument("--iterations", type=positive_int, default=40, help="timed runs per model and round (40)")
    args = p.parse_args(argv)

    def body() -> int:
        from engine.model_file import int8_sibling, read_onnx_metadata

        bundled = int8_sibling(default_model_path())
        reference = read_onnx_metadata(bundled)
        frames = clip_frames(default_clip_path(), 32)
        with tempfile.TemporaryDirectory(prefix="hgpose-arch-") as tmp:
            models = {"bundled": bundled}
            for arch in tqdm(args.architectures, desc="building", unit="model"):
                models[arch.name] = build_int8(arch, reference, central_crops(frames, arch.input_size), Path(tmp))
            p50 = time_models(models, args.rounds, args.iterations)
        ref = p50["bundled"]
        print(f"{'model':>12} {'p50 ms':>8} {'x bundled':>10}")
        for name, ms in p50.items():
            print(f"{name:>12} {ms:>8.2f} {ms / ref:>10.2f}")
        return 0

    return run_command("architecture-speed", body)


if __name__ == "__main__":
    raise SystemExit(main())
