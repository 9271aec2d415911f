"""How pose crops are read: the flip test on every crop, only on unsure ones, or never.

The flip test averages each crop's heatmaps with those of the mirrored crop (the left/right
channels swapped back): a better pose for a second read. ``unsure`` spends that read only where the
plain one is unsure (:attr:`engine.pipeline.PipelineConfig.flip_when_unsure`). A module of its own
so that command-line parsers can offer the names without importing the pipeline.
"""

from __future__ import annotations

from engine.errors import ConfigError

# ``on``: every pose crop read mirrored as well; ``unsure``: only those whose plain read is
# unsure; ``off``: none. The person search's crops are never mirrored.
FLIP_MODES = ("on", "unsure", "off")


def check_flip_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`FLIP_MODES`, else ConfigError."""
    if mode not in FLIP_MODES:
        raise ConfigError(f"flip mode must be one of {', '.join(FLIP_MODES)}, got {mode!r}")
    return mode
