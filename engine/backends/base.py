"""The backend interface: normalised crops in, heatmaps out, plus a frame-level ``estimate``.

A backend must implement :meth:`Backend.infer`. :meth:`Backend.estimate` (crop, normalise, infer,
decode, map back to frame pixels) has a CPU implementation here; GPU backends override it to keep
the warp and the decoding on the device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.crop import (
    CropBox,
    apply_affine,
    crop_matrix,
    heatmap_to_input,
    invert_affine,
    normalise_batch,
    warp_crop,
)
from engine.decoding import decode_heatmaps, merge_flipped, place_zoomed, zoom_swaps, zoom_to_crop
from engine.errors import ConfigError
from engine.metadata import ModelMetadata
from engine.timing import StageTimer

# Which decoded poses (N, K, 3) are unsure, as an (N,) bool mask: those crops are read mirrored too.
UnsureTest = Callable[[np.ndarray], np.ndarray]


class Backend(ABC):
    """A loaded model ready for inference.

    Attributes:
        name: backend identifier, e.g. ``"onnxruntime"``, ``"torch-cuda"``, ``"tensorrt"``.
        device: human-readable device, e.g. ``"CPU (2 threads)"``.
        metadata: the model's metadata (skeleton, input size, normalisation).
        model_path: the file the model was loaded from.
    """

    name: str = "backend"
    device: str = "cpu"

    def __init__(self, model_path: Path, metadata: ModelMetadata) -> None:
        self.model_path = Path(model_path)
        self.metadata = metadata
        # Why faster backends were passed over when ``auto`` chose this one (a stale engine, say),
        # for front ends to show; empty when nothing failed.
        self.fallbacks: list[str] = []

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 normalised RGB -> (N, K, S/4, S/4) float32 heatmaps (final stack)."""

    def warmup(self, batch_size: int = 1, iterations: int = 2) -> None:
        """Run a few dummy batches so lazy initialisation does not land on the first real frame."""
        s = self.metadata.input_size
        x = np.zeros((batch_size, 3, s, s), dtype=np.float32)
        for _ in range(iterations):
            self.infer(x)

    def close(self) -> None:
        """Release runtime resources (sessions, device memory); the default holds none."""
        return None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return (f"{self.name} on {self.device}, model {self.metadata.name or self.model_path.name} "
                f"({self.metadata.precision})")

    def estimate(self, frames: Sequence[np.ndarray], boxes: Sequence[CropBox], flip: bool = False,
                 timer: StageTimer | None = None, unsure: UnsureTest | None = None,
                 zoom: float | None = None, unzoomed: np.ndarray | None = None) -> np.ndarray:
        """Pose for each (frame, box) pair.

        Args:
            frames: (H, W, 3) uint8 BGR frames; the same frame may appear several times.
            boxes: one crop per frame, in that frame's pixels.
            flip: average with the mirrored crop (flip test).
            unsure: with ``flip`` off, the flip test for the crops whose pose this test marks (it
                gets the decoded (N, K, 3) poses, confidences final, positions still in heatmap
                pixels): only those crops are read mirrored, and their heatmaps averaged with the
                ones already read, as ``flip`` would (same result, one crop more each).
            zoom: the zoom test (:func:`zoomed_boxes`): each crop is read again zoomed in to this
                fraction of its side, the same way (mirrored too where the crop was), and those
                heatmaps, resampled onto the crop's grid, are averaged in for the *positions* of
                the joints both see (:func:`engine.decoding.place_zoomed`); the
                confidences stay the crop's own, so the calibrated threshold applies unchanged.
            unzoomed: with ``zoom``, an (N, K, 2) array that receives the positions the crops
                alone give (frame pixels), for a caller that wants both (the pipeline's tracker
                places its next crop from those).

        Returns:
            (N, K, 3) float32: x, y in frame pixels and a confidence in [0, 1].
        """
        timer = timer or StageTimer()
        heat, mirrored = self._heatmaps(frames, boxes, timer, flip, unsure=unsure)
        with timer.stage("decode-heatmaps"):
            keypoints = decode_heatmaps(heat)
        if zoom is not None:
            zoomed, _ = self._heatmaps(frames, zoomed_boxes(boxes, zoom), timer, flip, mirror=mirrored)
            with timer.stage("decode-heatmaps"):
                zoomed = zoom_to_crop(zoomed, zoom)
                # Where the zoomed read labels the person the other way round, its sides are swapped
                # to the crop's before averaging.
                permutation = list(self.metadata.skeleton_spec.flip_permutation())
                swap = zoom_swaps(keypoints, decode_heatmaps(zoomed)[..., :2], zoom, heat.shape[-1],
                                  self.metadata.threshold_for(flip), permutation)
                zoomed[swap] = zoomed[swap][:, permutation]
                both = decode_heatmaps(0.5 * (heat + zoomed))[..., :2]
                place_zoom_test(keypoints, both, zoom, boxes, self.metadata, unzoomed)
        with timer.stage("decode-heatmaps"):
            keypoints[..., :2] = heatmaps_to_frame(keypoints[..., :2], boxes, self.metadata)
        return keypoints

    def _heatmaps(self, frames: Sequence[np.ndarray], boxes: Sequence[CropBox], timer: StageTimer, flip: bool,
                  unsure: UnsureTest | None = None, mirror: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, K, H, W) heatmaps of the crops, each merged with its mirrored crop's where it is read
        mirrored too: every crop with ``flip``, else the rows in ``mirror``, else those ``unsure``
        marks. Also returns those rows (int indices)."""
        s = self.metadata.input_size
        n = len(boxes)
        with timer.stage("preprocess"):
            crops = np.stack([warp_crop(f, b, s) for f, b in zip(frames, boxes, strict=True)])
            x = normalise_batch(crops, self.metadata.normalisation)
            if flip:
                x = np.concatenate([x, np.ascontiguousarray(x[..., ::-1])])
        with timer.stage("infer"):
            heat = self.infer(x)
        permutation = self.metadata.skeleton_spec.flip_permutation()
        if flip:
            with timer.stage("decode-heatmaps"):
                return merge_flipped(heat[:n], heat[n:], permutation), np.arange(n)
        if mirror is not None:
            again = mirror
        elif unsure is not None:
            with timer.stage("decode-heatmaps"):
                again = np.flatnonzero(unsure(decode_heatmaps(heat)))
        else:
            again = np.zeros(0, np.intp)
        if len(again):
            with timer.stage("infer"):
                mirrored = self.infer(np.ascontiguousarray(x[again][..., ::-1]))
            with timer.stage("decode-heatmaps"):
                heat = np.array(heat, copy=True)
                heat[again] = merge_flipped(heat[again], mirrored, permutation)
        return heat, again


def place_zoom_test(keypoints: np.ndarray, both: np.ndarray, zoom: float, boxes: Sequence[CropBox],
                    metadata: ModelMetadata, unzoomed: np.ndarray | None) -> None:
    """The zoom test's last step, shared by the CPU and GPU paths: the poses (N, K, 3) in heatmap
    pixels take the positions ``both`` (N, K, 2; the peaks of the two reads' mean) where the zoomed
    crop sees them (:func:`engine.decoding.place_zoomed`), in place; ``unzoomed``, when given,
    receives the crops' own positions in frame pixels."""
    own = keypoints[..., :2].copy()
    keypoints[..., :2] = place_zoomed(own, both, zoom, metadata.heatmap_size)
    if unzoomed is not None:
        unzoomed[...] = heatmaps_to_frame(own, boxes, metadata)


def zoomed_boxes(boxes: Sequence[CropBox], zoom: float) -> list[CropBox]:
    """The zoom test's crops: each box's centre and rotation, ``zoom`` times its side (0 < zoom).

    Reading a tracked person's crop once more zoomed in and averaging the two heatmaps (as the flip
    test averages two mirror images) places joints better: measured on the five reference clips and
    the still validation sets (README, "The zoom test")."""
    if not zoom > 0:
        raise ConfigError(f"the zoom test's zoom must be > 0, got {zoom}")
    return [CropBox(b.cx, b.cy, b.size * zoom, b.rotation) for b in boxes]


def heatmaps_to_frame(points: np.ndarray, boxes: Sequence[CropBox], metadata: ModelMetadata) -> np.ndarray:
    """Map (N, K, 2) heatmap coordinates back to frame pixels through each box's inverse affine."""
    stride = metadata.input_size / metadata.heatmap_size
    inp = heatmap_to_input(points, stride)
    out = np.empty_like(inp)
    for i, box in enumerate(boxes):
        out[i] = apply_affine(invert_affine(crop_matrix(box, metadata.input_size)), inp[i])
    return out
