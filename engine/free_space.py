"""Stopping before the disk is full, because OpenCV's video writer does not say when it is.

``cv2.VideoWriter.write`` only logs "Failed to write frame" and carries on, and its ``release``
then leaves a file without an index (``moov atom not found``). So long runs check the free space
of their output folder before each frame and stop, with nothing published, while there is still
room to finish the files they have already promised.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.errors import OutputError

# Kept free beyond what finishing needs: the file system's own bookkeeping, other writers, a
# frame in flight. Small next to any disk, large next to one frame of an encoded video.
RESERVE_BYTES = 4 << 20
# How a command ends the message of a failed write: what the user still has.
NOTHING_WRITTEN = "nothing written, earlier outputs left as they were"


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer can still use on ``directory``'s file system."""
    return shutil.disk_usage(directory).free


class FreeSpaceGuard:
    """Raises ``OutputError`` once ``directory`` has less free space than finishing needs."""

    def __init__(self, directory: Path, reserve: int = RESERVE_BYTES) -> None:
        self.directory = Path(directory)
        self.reserve = reserve

    def check(self, pending: int, frames: int) -> None:
        """``pending``: bytes still to be written to finish the outputs (the final JSON and CSV,
        the video's index); ``frames``: frames done so far, for the message."""
        free = free_bytes(self.directory)
        if free < pending + self.reserve:
            raise OutputError(f"{self.directory} is nearly full ({free / 1e6:.1f} MB free, about "
                              f"{(pending + self.reserve) / 1e6:.1f} MB needed to finish); stopped after "
                              f"{frames} frames")
