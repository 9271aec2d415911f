"""Screenshots: the image format chosen from the file name, encoded in memory, written atomically.

Encoding first and writing the finished bytes through :func:`engine.atomic.atomic_path` means a
failed write (a full disk, a folder that cannot be made) leaves the previous file as it was and
reports why, instead of leaving a truncated image under the user's name.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QBuffer, QByteArray, QIODevice
from PyQt6.QtGui import QImage, QPixmap

from engine.atomic import atomic_path, check_output_file
from engine.errors import ConfigError, OutputError

# Suffix -> Qt image format. Qt's own writers (PNG, BMP) and the JPEG plugin that ships with every
# PyQt6 wheel; others (WebP, TIFF) are plugins a Qt install may lack.
SCREENSHOT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def screenshot_format(path: Path) -> str:
    """The Qt image format for ``path``'s suffix (case-insensitive); ``ConfigError`` for any other."""
    suffix = Path(path).suffix
    fmt = SCREENSHOT_FORMATS.get(suffix.lower())
    if fmt is None:
        *first, last = SCREENSHOT_FORMATS
        known = f"{', '.join(first)} or {last}"
        why = f" as {suffix}" if suffix else ": no suffix to choose its format by"
        raise ConfigError(f"cannot save screenshot {path}{why}; name it {known}")
    return fmt


def encode_image(image: QPixmap | QImage, fmt: str) -> bytes:
    """``image`` as the bytes of a ``fmt`` file; ``OutputError`` when Qt cannot encode it."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buffer, fmt)
    buffer.close()
    if not ok or data.isEmpty():
        raise OutputError(f"cannot encode the screenshot as {fmt}")
    return data.data()


def save_image(image: QPixmap | QImage, path: Path) -> Path:
    """Write ``image`` to ``path`` in the format its suffix names, atomically; returns ``path``.

    Raises ``ConfigError`` for a suffix with no format, ``OutputError`` (with the system's reason)
    when the file cannot be written; either way a file already at ``path`` is left untouched.
    """
    path = Path(path)
    data = encode_image(image, screenshot_format(path))
    try:
        check_output_file(path)  # a file where a folder should be: said in words, not as "File exists"
        with atomic_path(path) as tmp:  # makes missing folders; OSError -> OutputError with its reason
            tmp.write_bytes(data)
    except OutputError as exc:
        raise OutputError(f"screenshot not saved: {exc}") from None
    return path
