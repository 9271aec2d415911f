"""The capture thread: reads a source, paces files, obeys playback commands, fills the frame slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

from app.frame_slot import LatestSlot
from app.readers import FrameReader, ReaderInfo, open_reader
from app.source_spec import SourceSpec
from engine.errors import HgposeError


@dataclass(frozen=True)
class FramePacket:
    """One captured frame on its way to inference.

    Attributes:
        index: frame index in the source (file position for image folders).
        timestamp: seconds: source time for files, time since opening for live sources.
        image: (H, W, 3) uint8 BGR.
        name: the file name for image folders, else empty.
        captured_at: ``time.perf_counter()`` when read; latency is measured from here.
        source: the opened source this frame belongs to.
        jump: the frame does not follow the previous one (first frame, seek, loop): the pipeline
            must reset its tracking and smoothing rather than blend across the cut.
    """

    index: int
    timestamp: float
    image: np.ndarray
    name: str
    captured_at: float
    source: ReaderInfo
    jump: bool


@dataclass(frozen=True)
class PlaybackState:
    """Playback settings applied by the capture thread. ``speed`` 0 means as fast as inference allows."""

    paused: bool = False
    speed: float = 1.0
    loop: bool = True


class CaptureThread(QThread):
    """Opens one source and feeds :class:`FramePacket` objects into a :class:`LatestSlot`.

    Files wait for inference (every frame is processed, paced to the file's frame rate times the
    speed); live sources never wait: an untaken frame is replaced and counted as dropped. Control
    methods are thread-safe and take effect within one frame.

    Signals (each carries the thread first, so a receiver can ignore a source it has replaced):
        opened(thread, ReaderInfo): the source is open.
        failed(thread, str): opening failed, or a live source stopped delivering (e.g. a camera
            unplugged).
        ended(thread): a file reached its end with looping off; playback is paused.
        length_changed(thread, int): a file ended before the frame count its container reports
            (a cut or damaged file); the int is the frames it really holds.
    """

    opened = pyqtSignal(object, object)
    failed = pyqtSignal(object, str)
    ended = pyqtSignal(object)
    length_changed = pyqtSignal(object, int)

    def __init__(self, spec: SourceSpec, slot: LatestSlot[FramePacket], playback: PlaybackState,
                 opener: Callable[[SourceSpec], FrameReader] = open_reader) -> None:
        super().__init__()
        self.setObjectName("hgpose-capture")
        self.spec = spec
        self.slot = slot
        self._opener = opener
        self._cond = threading.Condition()
        self._state = playback
        self._seek: int | None = None
        self._step = False
        self._stop = False
        self._at_end = False
        self._last_index = -1
        self.idle = False  # waiting for a command while paused (nothing in flight from this thread)

    # Control, from any thread.
    def set_playback(self, state: PlaybackState) -> None:
        with self._cond:
            if not state.paused and self._at_end and self._seek is None:
                self._seek = 0  # play after the end starts over
            self._state = state
            self._cond.notify_all()

    def seek(self, index: int) -> None:
        with self._cond:
            self._seek = max(0, int(index))
            self._cond.notify_all()

    def step(self, delta: int) -> None:
        """Show the frame ``delta`` frames from the current one (pauses playback first)."""
        with self._cond:
            self._state = PlaybackState(True, self._state.speed, self._state.loop)
            if delta == 1 and self._seek is None:
                self._step = True  # the next frame needs no seek
            else:
                base = self._seek if self._seek is not None else self._last_index
                self._seek = max(0, base + delta)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def _jump_pending(self) -> bool:
        return self._stop or self._seek is not None

    # The thread.
    def run(self) -> None:
        try:
            reader = self._opener(self.spec)
        except HgposeError as exc:
            self.failed.emit(self, str(exc))
            return
        except Exception as exc:  # a driver or codec failure must not kill the app silently
            self.failed.emit(self, f"cannot open {self.spec.in_messages}: {exc}")
            return
        try:
            self.opened.emit(self, reader.info)
            self._run(reader)
        except Exception as exc:
            self.failed.emit(self, f"{self.spec.in_messages}: capture failed: {exc}")
        finally:
            reader.close()

    def _run(self, reader: FrameReader) -> None:
        info = reader.info
        started = time.perf_counter()
        next_due = started
        jump = True
        length = reader.length
        while True:
            with self._cond:
                while not self._stop and self._state.paused and self._seek is None and not self._step:
                    self.idle = True
                    self._cond.wait()
                self.idle = False
                if self._stop:
                    return
                seek, self._seek = self._seek, None
                single = self._step or (seek is not None and self._state.paused)
                self._step = False
                state = self._state
            if seek is not None and info.seekable:
                self.slot.clear()  # a frame from before the jump is stale
                reader.seek(min(seek, max(length - 1, 0)))
                jump = True
            if not info.spec.live and not single and state.speed > 0:
                wait = next_due - time.perf_counter()
                if wait > 0:
                    with self._cond:
                        self._cond.wait(wait)
                    if self._jump_pending() or self._state.paused:
                        continue  # a command arrived while pacing; re-evaluate
            frame = reader.read()
            if frame is None:
                if reader.length != length:
                    length = reader.length
                    self.length_changed.emit(self, length)
                if info.spec.live:
                    self.failed.emit(self, f"{info.spec.label} stopped delivering frames (unplugged or stream ended)")
                    return
                with self._cond:
                    restart = self._state.loop and info.seekable and info.frame_count > 1 and self._seek is None
                    if not restart and self._seek is None:
                        self._state = PlaybackState(True, self._state.speed, self._state.loop)
                        self._at_end = True
                        self.ended.emit(self)
                if restart:  # not a user seek: the last frame, still in the slot, is not stale
                    reader.seek(0)
                    jump = True
                continue
            self._at_end = False
            index, image, name = frame
            now = time.perf_counter()
            timestamp = now - started if info.spec.live else index / info.fps
            packet = FramePacket(index, timestamp, image, name, now, info, jump or info.stills)
            if self.slot.put(packet, wait=not info.spec.live, abort=self._jump_pending):
                jump = False
                self._last_index = index
            interval = 1.0 / (info.fps * state.speed) if state.speed > 0 else 0.0
            # Keep the file's rhythm, but after a stall (slow inference) do not race to catch up.
            next_due = max(next_due + interval, time.perf_counter() - interval)
