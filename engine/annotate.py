"""Offline annotation: run the pipeline over a source and write JSON, CSV and optionally an MP4.

Outputs are written atomically. On an interruption (Ctrl-C or SIGTERM) the frames processed so far
are written as valid files marked ``"complete": false``, and the rendered video holds exactly the
frames listed in the JSON: each frame's log entry and video frame are written with signals deferred.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from engine.annotations import AnnotationLog
from engine.backends.base import Backend
from engine.errors import OutputError
from engine.interrupts import deferred_interrupts
from engine.pipeline import PipelineConfig, PosePipeline
from engine.render import draw_pose, even_size, pad_to_even
from engine.sources import Frame, ImageFolderSource, ImageSource, VideoSource
from engine.video_writer import AtomicVideoWriter


@dataclass(frozen=True)
class AnnotateOptions:
    """What to produce and how: overlay video, drawing threshold and pipeline options."""

    render: bool = False
    batch: int = 1  # frames per backend call on videos; >1 pays off on GPU backends
    draw_threshold: float = 0.3
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    progress: bool = True


@dataclass(frozen=True)
class AnnotateSummary:
    json_path: Path
    csv_path: Path
    video_path: Path | None
    frames: int
    complete: bool
    skipped: int
    fps: float


def _chunks(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    chunk: list[Frame] = []
    for f in frames:
        chunk.append(f)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def model_header(backend: Backend, flip_test: bool) -> dict:
    """The ``model`` header of an annotation file: which model ran where, and how (``flip_test``)."""
    m = backend.metadata
    return {"name": m.name, "file": backend.model_path.name, "backend": backend.name, "device": backend.device,
            "input_size": m.input_size, "precision": m.precision, "metrics": m.metrics, "flip_test": flip_test}


def annotate_source(source: VideoSource | ImageFolderSource | ImageSource, backend: Backend, out_dir: Path,
                    stem: str, options: AnnotateOptions) -> AnnotateSummary:
    """Annotate one opened source into ``out_dir/<stem>.{json,csv[,mp4]}``."""
    info = source.info
    pipeline = PosePipeline(backend, options.pipeline)
    skeleton = backend.metadata.skeleton_spec
    log = AnnotationLog(
        source={"path": info.path, "kind": info.kind, "width": info.width, "height": info.height,
                "fps": info.fps, "frame_count": info.frame_count},
        model=model_header(backend, options.pipeline.flip_test), skeleton=skeleton, skipped=info.skipped,
        angle_min_confidence=options.draw_threshold)
    json_path, csv_path = out_dir / f"{stem}.json", out_dir / f"{stem}.csv"
    writer = None
    if options.render:
        writer = AtomicVideoWriter(out_dir / f"{stem}.mp4", info.fps or 5.0, even_size(info.width, info.height))
    still = info.kind != "video"
    complete = False
    t_start = time.perf_counter()
    bar = tqdm(total=info.frame_count or None, desc=Path(info.path).name, unit="frame",
               disable=not options.progress, dynamic_ncols=True)
    try:
        for chunk in _chunks(source, 1 if still else max(1, options.batch)):
            if still:
                results = [pipeline.process_image(chunk[0].image, chunk[0].index)]
            else:
                results = pipeline.process_batch([f.image for f in chunk], [f.index for f in chunk],
                                                 [f.timestamp for f in chunk])
            for frame, result in zip(chunk, results, strict=True):
                overlay = None
                if writer is not None:
                    overlay = draw_pose(frame.image.copy(), result.keypoints, skeleton, options.draw_threshold,
                                        result.box)
                with deferred_interrupts():  # the JSON entry and the video frame go together or not at all
                    log.add(result, frame.name)
                    if writer is not None and overlay is not None:
                        writer.write(pad_to_even(overlay))
                bar.update(1)
            bar.set_postfix(infer_ms=f"{results[-1].timings_ms.get('infer', 0.0):.1f}", state=results[-1].state,
                            refresh=False)
        complete = True
    finally:
        fps = len(log.frames) / max(time.perf_counter() - t_start, 1e-9)
        bar.close()
        video = None
        with deferred_interrupts():  # a second Ctrl-C must not cut the final writes short
            video_error: OutputError | None = None
            try:
                if writer is not None:
                    video = writer.close()
            except OutputError as exc:  # the keypoints are still written
                video_error = exc
            log.write(json_path, csv_path, complete)
            if video_error is not None:
                raise OutputError(f"{video_error}; the keypoints are in {json_path} and {csv_path.name}") from None
    return AnnotateSummary(json_path, csv_path, video, len(log.frames), complete, len(info.skipped), float(fps))
