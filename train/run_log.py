"""Training logs: ``log.csv`` (one row per epoch) and, optionally, TensorBoard events.

The CSV is rewritten from the run's full history, which also lives in ``last.pt``, so after a crash
and a resume it never holds a row twice or a row the checkpoint does not know. TensorBoard is used
only when the ``tensorboard`` package is importable (``torch.utils.tensorboard`` needs it).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text

CSV_FIELDS = ("epoch", "step", "loss", "lr", "seconds", "val_pck", "val_pck_limbs")
# Columns a run adds when it averages its weights (ema_decay): the raw weights' figures.
EMA_FIELDS = ("val_pck_raw", "val_pck_limbs_raw")


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class RunLog:
    """Writes the epoch history of a run in ``out_dir`` (call only on rank 0)."""

    def __init__(self, out_dir: Path, tensorboard: bool = True) -> None:
        self.csv_path = Path(out_dir) / "log.csv"
        self._writer: Any = None
        if tensorboard and tensorboard_available():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))

    @property
    def tensorboard_dir(self) -> Path | None:
        return Path(self._writer.log_dir) if self._writer is not None else None

    def step(self, step: int, loss: float, lr: float) -> None:
        """Per-step training scalars (TensorBoard only)."""
        if self._writer is not None:
            self._writer.add_scalar("train/loss", loss, step)
            self._writer.add_scalar("train/lr", lr, step)

    def epoch(self, history: Sequence[dict[str, float]]) -> None:
        """Rewrite the CSV from ``history`` and send its last row to TensorBoard."""
        buf = io.StringIO()
        fields = CSV_FIELDS + tuple(f for f in EMA_FIELDS if any(f in row for row in history))
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(history)
        atomic_write_text(self.csv_path, buf.getvalue())
        if self._writer is not None and history:
            row = history[-1]
            for key in ("loss", "val_pck", "val_pck_limbs", *EMA_FIELDS):
                if key in row:
                    self._writer.add_scalar(f"epoch/{key}", row[key], int(row["step"]))
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
