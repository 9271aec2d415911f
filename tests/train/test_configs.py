"""The shipped training configs load, and the fine-tune config is the bundled model's own recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from engine.assets import default_model_path
from engine.checkpoint import load_checkpoint
from train.config import TrainConfig, config_to_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "train" / "configs"


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    assert isinstance(load_config(path), TrainConfig)


def test_the_finetune_config_is_the_bundled_models_recipe() -> None:
    config = _flat(config_to_dict(load_config(CONFIGS / "finetune-cpu.toml")))
    _, meta = load_checkpoint(default_model_path().with_suffix(".pt"))
    trained = _flat(meta.training["config"])
    defaults = _flat(config_to_dict(TrainConfig()))

    differ = {k: (config[k], trained.get(k)) for k in config
              if k not in ("name", "out_dir") and config[k] != trained.get(k, defaults[k])}
    # Settings added since the bundled model was trained must sit at their defaults (off).
    assert differ == {}, differ
    assert dataclasses.asdict(meta.config) == {k.split(".", 1)[1]: v for k, v in config.items()
                                               if k.startswith("model.")}
