"""Screenshots: the format follows the suffix, and a failed write says why and keeps the previous file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from app_testing import wait_frames
from PyQt6.QtGui import QColor, QImage

from app.screenshot import save_image, screenshot_format
from engine.errors import ConfigError, OutputError

# The first bytes of each format's files.
MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff", "BMP": b"BM"}


def _image() -> QImage:
    image = QImage(64, 48, QImage.Format.Format_RGB888)
    image.fill(QColor(200, 40, 40))
    return image


@pytest.mark.parametrize(("name", "fmt"), [("s.png", "PNG"), ("s.jpg", "JPEG"), ("s.JPEG", "JPEG"),
                                           ("s.bmp", "BMP")])
def test_the_suffix_picks_the_format(qapp, tmp_path, name, fmt):
    path = save_image(_image(), tmp_path / name)
    assert path.read_bytes().startswith(MAGIC[fmt])
    assert QImage(str(path)).size() == _image().size()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left beside it


@pytest.mark.parametrize(("name", "words"), [("s.gif", "as .gif"), ("s", "no suffix"), ("s.png.txt", "as .txt")])
def test_a_suffix_with_no_format_is_refused(qapp, tmp_path, name, words):
    with pytest.raises(ConfigError, match=words) as caught:
        save_image(_image(), tmp_path / name)
    assert ".png, .jpg, .jpeg or .bmp" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    assert screenshot_format(Path("x.Bmp")) == "BMP"


def test_a_failed_write_keeps_the_previous_file_and_says_why(qapp, tmp_path, monkeypatch):
    old = tmp_path / "shot.png"
    save_image(_image(), old)
    before = old.read_bytes()

    def disk_full(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])  # what a full disk leaves: half a file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(OutputError, match=r"screenshot not saved: .*shot\.png \(No space left on device\)"):
        save_image(_image().scaled(640, 480), old)
    assert old.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["shot.png"]


def test_the_window_on_a_full_disk(make_window, qtbot, small_tmpfs):
    disk = small_tmpfs("64k")  # room for the old file, not for a window-sized PNG
    old = disk / "shot.png"
    old.write_bytes(b"the previous screenshot")
    w = make_window()
    wait_frames(qtbot, w, 1)
    assert w.save_screenshot(old) is None
    assert "No space left on device" in w.banner.message and str(old) in w.banner.message
    assert old.read_bytes() == b"the previous screenshot"
    assert [p.name for p in disk.iterdir()] == ["shot.png"]


def test_the_window_in_the_format_its_name_asks_for(make_window, qtbot, tmp_path):
    w = make_window()
    wait_frames(qtbot, w, 1)
    for name, fmt in (("shot.jpg", "JPEG"), ("shot.bmp", "BMP")):
        path = w.save_screenshot(tmp_path / name)
        assert path is not None and path.read_bytes().startswith(MAGIC[fmt])
        assert QImage(str(path)).size() == w.size()
