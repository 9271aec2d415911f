"""Training configuration: frozen dataclasses, loadable from TOML with overrides.

A TOML file mirrors the dataclass tree, e.g.::

    [model]
    num_stacks = 2
    width = 64
    input_size = 128

    [optim]
    lr = 1e-3
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from engine.errors import ConfigError, HgposeError
from engine.metadata import HourglassConfig
from train.augment import AugmentConfig


@dataclass(frozen=True)
class DataConfig:
    """Where the packs are and how they are fed."""

    train_pack: str = "data/lspet-train.npz"
    # Further packs trained on together with train_pack: more datasets (LSPET + MPII), or one
    # dataset packed in parts small enough to copy to a GPU machine one at a time. Same pack size,
    # context and skeleton.
    more_train_packs: tuple[str, ...] = ()
    val_pack: str = "data/lspet-val.npz"
    skeleton: str = "lsp14"
    sigma: float = 1.0
    num_workers: int = -1  # -1: 0 on CPU (augmentation is cheap next to the model), 4 on CUDA
    # Weight of the distillation loss against the label loss: heatmaps of the packs' teacher
    # keypoints (``hgpose prepare --teachers``), each joint weighted by the teacher's score.
    # 0 trains on the labels alone; packs without teachers add nothing.
    distill_weight: float = 0.0
    # Loss weight of the people the packs' teacher sees from behind (train.facing), against 1 for
    # everyone else: the model mirrors back views 5-15 times as often as front views. 3 did not
    # help on LSPET alone (model card, stage 10). Needs a pack with teacher keypoints unless it is 1.
    back_view_weight: float = 1.0
    # Weight of the flip-consistency loss: every stack's heatmaps of a crop are pulled towards what
    # the flip test makes of them (their average with the mirrored crop's, mapped back; no
    # gradient through that target). It asks the network itself for the answer the flip test buys
    # with a second crop at inference. 0 turns it off; on, each step runs one more forward pass.
    flip_consistency_weight: float = 0.0
    # Weight of the auxiliary face loss: during training only, a 1x1 head on every stack's features
    # predicts heatmaps of MoveNet's nose, eyes and ears (the packs' face targets, `hgpose prepare
    # --teachers`), each as high as MoveNet's score, so a face seen from behind is a target of none.
    # Faces are what tells front from back; the heads are dropped from the saved model. 0: off.
    face_weight: float = 0.0
    # Loss weight of the people the network reads mirrored in the very step (its last stack's peaks
    # fit their left/right-swapped labels better than the labels, train.metrics.mirrored_mask),
    # against 1: hard examples of left/right, the model's commonest error, mined online. LSP-14 only.
    mirror_weight: float = 1.0
    # The model's per-crop contrast stretch (engine.metadata.Normalisation.stretch, a percentile;
    # 0 off): trained with it, the model file carries it, so every runtime applies it the same way.
    contrast_stretch: float = 0.0


OPTIMISERS = ("adam", "rmsprop")
SCHEDULES = ("cosine", "step", "constant")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule. The paper uses RMSprop at 2.5e-4."""

    name: str = "adam"  # "adam" | "rmsprop"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" | "step" | "constant"
    step_epochs: tuple[int, ...] = ()
    step_gamma: float = 0.1
    warmup_steps: int = 200
    epochs: int = 30
    batch_size: int = 16
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        # Checked here so a typo fails when the config is read, before any process group starts.
        if self.name not in OPTIMISERS:
            raise ConfigError(f"unknown optimiser optim.name={self.name!r} (choose from {', '.join(OPTIMISERS)})")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule optim.schedule={self.schedule!r} "
                              f"(choose from {', '.join(SCHEDULES)})")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ConfigError("optim.batch_size and optim.epochs must be at least 1 and optim.lr positive")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run."""

    model: HourglassConfig = field(default_factory=lambda: HourglassConfig(num_stacks=2, width=64, input_size=128))
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    out_dir: str = "runs/hg2-w64-128"
    name: str = "hg2-w64-128"
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    amp: bool = True  # CUDA: float16 autocast with a gradient scaler
    # CPU: bfloat16 autocast. Off by default because it is only fast on CPUs with native bf16
    # (AVX512-BF16 or AMX); on this project's 2-core EPYC it trains HG-2 w64 1.3x faster.
    cpu_bf16: bool = False
    channels_last: bool = True  # both devices: 1.4x faster training on CPU too (oneDNN NHWC kernels)
    # A checkpoint whose weights start the run (fine-tuning, or continuing with another batch size or
    # schedule). The architecture must match ``model``, except that ``model.width`` and
    # ``model.num_stacks`` may be larger (the weights are widened and deepened exactly: train.widen)
    # and ``model.input_size`` may differ. Ignored
    # when resuming from out_dir/last.pt.
    init_from: str = ""
    max_steps: int = 0  # stop after this many optimiser steps in this process (0: no limit)
    # Stop (resumably, saving last.pt) once this process has trained this long (0: no limit), for
    # machines lent by the hour. Checked every few steps; the validation and save come on top.
    max_minutes: float = 0.0
    val_every: int = 1  # epochs
    # Validate and keep (best.pt) an exponential moving average of the weights with this decay, e.g.
    # 0.999 (a horizon of about 1000 steps); 0 keeps the raw weights. train.weight_average.
    ema_decay: float = 0.0
    flip_test_val: bool = False
    tensorboard: bool = True  # also write TensorBoard events when the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.val_every < 1 or self.max_steps < 0 or self.max_minutes < 0:
            raise ConfigError("val_every must be at least 1, and max_steps and max_minutes not negative")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1) (0: off), got {self.ema_decay}")
        if not self.data.distill_weight >= 0.0:
            raise ConfigError(f"data.distill_weight must be 0 or more, got {self.data.distill_weight}")
        if not 0.0 <= self.data.flip_consistency_weight < math.inf:
            raise ConfigError("data.flip_consistency_weight must be a finite 0 or more, got "
                              f"{self.data.flip_consistency_weight}")
        if not 0.0 <= self.data.contrast_stretch < 50.0:
            raise ConfigError(f"data.contrast_stretch must be a percentile in [0, 50) (0: off), got "
                              f"{self.data.contrast_stretch}")
        if not 0.0 <= self.data.mirror_weight < math.inf:
            raise ConfigError(f"data.mirror_weight must be a finite 0 or more, got {self.data.mirror_weight}")
        if not 0.0 <= self.data.face_weight < math.inf:
            raise ConfigError(f"data.face_weight must be a finite 0 or more, got {self.data.face_weight}")
        if not 0.0 <= self.data.back_view_weight < math.inf:
            raise ConfigError(f"data.back_view_weight must be a finite 0 or more, got {self.data.back_view_weight}")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown config key {where}{key}")
        sub = {"model": HourglassConfig, "data": DataConfig, "optim": OptimConfig,
               "augment": AugmentConfig}.get(key) if cls is TrainConfig else None
        if sub is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"config section {where}{key} must be a table")
            kwargs[key] = _build(sub, value, f"{where}{key}.")
        elif isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except HgposeError as exc:
        raise ConfigError(str(exc)) from None
    except TypeError as exc:
        raise ConfigError(f"bad config for {where or 'top level'}: {exc}") from None


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return _build(TrainConfig, data, "")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults, then a TOML file, then ``key.sub=value`` overrides (values parsed as TOML)."""
    data = dataclasses.asdict(TrainConfig())
    if path is not None:
        try:
            data = merge(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML ({exc})") from None
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare string
        node: dict[str, Any] = {}
        cur = node
        parts = key.split(".")
        for p in parts[:-1]:
            cur[p] = {}
            cur = cur[p]
        cur[parts[-1]] = value
        data = merge(data, node)
    return config_from_dict(data)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
