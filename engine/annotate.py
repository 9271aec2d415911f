"""Offline annotation: run the pipeline over a source and write JSON, CSV and optionally an MP4.

Outputs are written atomically. On an interruption (Ctrl-C or SIGTERM) the frames processed so far
are written as valid files marked ``"complete": false``, and the rendered video holds exactly the
frames listed in the JSON: each frame's log entry and video frame are written with signals deferred.
A failed write (a full disk) publishes nothing of the source and leaves earlier outputs as they were.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from engine.annotations import PARTIAL_INFIX, AnnotationLog, holds_complete_run
from engine.atomic import remove_stale_temps
from engine.backends.base import Backend
from engine.errors import OutputError
from engine.free_space import NOTHING_WRITTEN, FreeSpaceGuard
from engine.interrupts import deferred_interrupts
from engine.pipeline import PipelineConfig, PosePipeline
from engine.render import draw_pose
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
    """What a run wrote. ``expected``: the frames the container reports (0 when unknown);
    ``truncated``: a complete run of a video decoded fewer than that (a cut or damaged file)."""

    json_path: Path
    csv_path: Path
    video_path: Path | None
    frames: int
    complete: bool
    skipped: int
    fps: float
    expected: int = 0
    truncated: bool = False


def _chunks(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    chunk: list[Frame] = []
    for f in frames:
        chunk.append(f)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def model_header(backend: Backend, config: PipelineConfig) -> dict:
    """The ``model`` header of an annotation file: which model ran where, and how (``flip_test``:
    whether every pose had the flip test; ``flip_mode``: ``on``, ``unsure`` or ``off``;
    ``zoom_test``: whether poses were placed with the zoom test)."""
    m = backend.metadata
    return {"name": m.name, "file": backend.model_path.name, "backend": backend.name, "device": backend.device,
            "input_size": m.input_size, "precision": m.precision, "metrics": m.metrics,
            "flip_test": config.flip_mode == "on", "flip_mode": config.flip_mode, "zoom_test": config.zoom_test}


def annotate_source(source: VideoSource | ImageFolderSource | ImageSource, backend: Backend, out_dir: Path,
                    stem: str, options: AnnotateOptions) -> AnnotateSummary:
    """Annotate one opened source into ``out_dir/<stem>.{json,csv[,mp4]}``.

    Raises ``OutputError`` when the outputs cannot be written (a full disk: checked before each
    frame, so the run stops early); nothing of this source is published then. Interrupted
    (KeyboardInterrupt), the frames so far are written with ``"complete": false``, under
    ``<stem>.partial.*`` where ``<stem>.json`` holds a complete earlier run, which is kept; the
    interrupt is re-raised with the text naming where the frames went.
    """
    info = source.info
    pipeline = PosePipeline(backend, options.pipeline)
    skeleton = backend.metadata.skeleton_spec
    remove_stale_temps(out_dir, stem)  # left by a killed run on the same output
    log = AnnotationLog(
        out_dir / f"{stem}.json", out_dir / f"{stem}.csv",
        source={"path": info.path, "kind": info.kind, "width": info.width, "height": info.height,
                "fps": info.fps, "frame_count": info.frame_count},
        model=model_header(backend, options.pipeline), skeleton=skeleton, skipped=info.skipped,
        angle_min_confidence=options.draw_threshold)
    writer = None
    try:
        if options.render:
            writer = AtomicVideoWriter(out_dir / f"{stem}.mp4", info.fps or 5.0, (info.width, info.height))
    except BaseException:
        log.discard()
        raise
    guard = FreeSpaceGuard(out_dir)
    still = info.kind != "video"
    complete = failed = truncated = interrupted = False
    kept: Path | None = None  # a complete earlier run that an interrupted one does not replace
    video = None
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
                guard.check(log.pending_bytes() + (writer.pending_bytes() if writer else 0), log.count)
                with deferred_interrupts():  # the JSON entry and the video frame go together or not at all
                    log.add(result, frame.name)
                    if writer is not None and overlay is not None:
                        writer.write(overlay)
                bar.update(1)
            bar.set_postfix(infer_ms=f"{results[-1].timings_ms.get('infer', 0.0):.1f}", state=results[-1].state,
                            refresh=False)
        complete = True
        if still:  # the folder's non-images were counted in the total: end the bar at its end
            bar.total = bar.n
    except OutputError as exc:
        failed = True
        raise OutputError(f"{exc}; {NOTHING_WRITTEN}") from None
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        fps = log.count / max(time.perf_counter() - t_start, 1e-9)
        bar.close()
        with deferred_interrupts():  # a second Ctrl-C must not cut the final writes short
            if failed:
                log.discard()
                if writer is not None:
                    writer.discard()
            else:
                if not complete:
                    kept = _keep_complete_run(log, writer)
                truncated = complete and not still and 0 < log.count < info.frame_count
                video = write_outputs(log, writer, complete, truncated)
                if interrupted:
                    where = f"the frames so far are in {log.json_path}"
                    if kept is not None:
                        where += f" (the complete earlier run in {kept.name} is kept)"
                    raise KeyboardInterrupt(where) from None
    return AnnotateSummary(log.json_path, log.csv_path, video, log.frames, complete, len(info.skipped), float(fps),
                           info.frame_count if not still else 0, truncated)


def _keep_complete_run(log: AnnotationLog, writer: AtomicVideoWriter | None) -> Path | None:
    """An interrupted run's frames go to ``<stem>.partial.*`` rather than over a complete earlier
    run's outputs (one Ctrl-C must not lose a finished annotation); returns the kept JSON, or None
    where the usual names hold no complete run (a partial one is replaced as before)."""
    if not holds_complete_run(log.json_path):
        return None
    kept = log.json_path

    def partial(path: Path) -> Path:
        return path.with_name(f"{path.stem}{PARTIAL_INFIX}{path.suffix}")

    log.retarget(partial(log.json_path), partial(log.csv_path))
    if writer is not None:
        writer.target = partial(writer.target)
    return kept


def write_outputs(log: AnnotationLog, writer: AtomicVideoWriter | None, complete: bool,
                  truncated: bool = False) -> Path | None:
    """Finish the video, then write JSON and CSV, then publish the video (annotate and the app's
    recorder): a video that did not come out whole (a full disk) stops everything before any
    earlier output is replaced, and any failure before the publish leaves no temporary files."""
    try:
        if writer is not None:
            writer.finish()
        log.write(complete, truncated)
    except BaseException as exc:
        log.discard()
        if writer is not None:
            writer.discard()
        if isinstance(exc, OutputError):
            raise OutputError(f"{exc}; {NOTHING_WRITTEN}") from None
        raise
    if writer is None:
        return None
    try:
        return writer.publish()
    except OutputError as exc:  # the keypoints are written
        raise OutputError(f"{exc}; the keypoints are in {log.json_path} and {log.csv_path.name}") from None
