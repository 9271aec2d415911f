"""Frame sources: the background decoder delivers every frame in order, stops promptly when the
consumer does, and reports a decoder failure instead of passing it off as the end of the video."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import InputError
from engine.sources import VideoSource


def decoder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hgpose-decode"]


def test_every_frame_in_order(clip_excerpt) -> None:
    clip = clip_excerpt(12, "order.mp4")
    cap = cv2.VideoCapture(str(clip))
    expected = []
    while (got := cap.read())[0]:
        expected.append(got[1])
    cap.release()
    frames = list(VideoSource(clip, prefetch=2))
    assert [f.index for f in frames] == list(range(12))
    assert all(np.array_equal(f.image, e) for f, e in zip(frames, expected, strict=True))
    assert frames[3].timestamp == pytest.approx(3 / 30.0)


def test_a_consumer_that_stops_early_stops_the_decoder(clip_excerpt) -> None:
    # Frame 0 is decoded up front; frames 1 and 2 fill the queue, so the end marker cannot go in.
    source = VideoSource(clip_excerpt(3, "early.mp4"), prefetch=2)
    frames = iter(source)
    next(frames)
    time.sleep(0.5)  # the decoder fills the queue and waits with the end-of-stream marker in hand
    started = time.perf_counter()
    frames.close()  # what a Ctrl-C or an error in the consumer does to the generator
    assert time.perf_counter() - started < 1.0
    assert decoder_threads() == []


class FailingCapture:
    """Stands in for cv2.VideoCapture: two frames, then the decoder raises."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame, self.reads, self.released = frame, 0, False

    def read(self) -> tuple[bool, np.ndarray]:
        self.reads += 1
        if self.reads > 2:
            raise cv2.error("corrupt packet")
        return True, self.frame

    def release(self) -> None:
        self.released = True


def test_a_decoder_failure_is_an_input_error(clip_excerpt) -> None:
    source = VideoSource(clip_excerpt(4, "fails.mp4"))
    source._cap.release()
    fake = FailingCapture(source._first)
    source._cap = fake  # type: ignore[assignment]
    seen = []
    with pytest.raises(InputError, match=r"decoding .*fails\.mp4 failed at frame 3"):
        for frame in source:
            seen.append(frame.index)
    assert seen == [0, 1, 2] and fake.released and decoder_threads() == []


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    # A missing path or a folder is named as such, not as a file OpenCV could not open.
    with pytest.raises(InputError) as missing:
        VideoSource(tmp_path / "missing.mp4")
    assert str(missing.value) == f"video {tmp_path / 'missing.mp4'} does not exist"
    with pytest.raises(InputError) as folder:
        VideoSource(tmp_path)
    assert str(folder.value) == f"{tmp_path} is a folder, not a video file"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(InputError):
        VideoSource(bad)


def test_closing_releases_a_source_never_iterated(clip_excerpt) -> None:
    with VideoSource(clip_excerpt(3, "closed.mp4")) as source:
        assert source._cap.isOpened()
    assert not source._cap.isOpened()
