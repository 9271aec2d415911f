"""Overlay videos keep every pixel of the source, also at odd sizes the MPEG-4 encoder cannot hold."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine.commands.annotate import main as annotate
from engine.render import even_size, pad_to_even


def test_pad_to_even_adds_black_only_where_a_side_is_odd() -> None:
    image = np.full((361, 641, 3), 200, np.uint8)
    padded = pad_to_even(image)
    assert padded.shape == (362, 642, 3)
    assert (padded[:361, :641] == 200).all() and not padded[361].any() and not padded[:, 641].any()
    even = np.zeros((4, 6, 3), np.uint8)
    assert pad_to_even(even) is even
    assert even_size(641, 361) == (642, 362) and even_size(640, 360) == (640, 360)


def test_an_odd_sized_image_renders_without_losing_its_edge(bundled_clip: Path, tmp_path: Path) -> None:
    cap = cv2.VideoCapture(str(bundled_clip))
    ok, frame = cap.read()
    cap.release()
    assert ok
    image = tmp_path / "odd.png"
    cv2.imwrite(str(image), cv2.resize(frame, (641, 361), interpolation=cv2.INTER_AREA))
    assert annotate([str(image), "--out", str(tmp_path / "o"), "--render", "--quiet"]) == 0
    video = cv2.VideoCapture(str(tmp_path / "o" / "odd.mp4"))
    ok, got = video.read()
    video.release()
    # Padded to 642x362 (OpenCV would otherwise drop the last column and row); the source's own
    # pixels keep their coordinates, so the JSON's keypoints and the video agree.
    assert ok and got.shape == (362, 642, 3)
    assert got[:, 641].max() < 40 and got[361].max() < 40  # the pad is black, up to codec noise
    assert got[:361, 640].mean() > 40  # the source's last column survived
    doc = json.loads((tmp_path / "o" / "odd.json").read_text())
    assert (doc["source"]["width"], doc["source"]["height"]) == (641, 361)
