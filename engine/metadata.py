"""Model configuration and the metadata that travels inside every model file.

A checkpoint (``.pt``), an ONNX file and a TensorRT engine sidecar all carry the same JSON
document, so no caller guesses the skeleton, input size or normalisation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from engine.errors import ModelError
from engine.skeleton import Skeleton, get_skeleton

METADATA_KEY = "hgpose"
FORMAT_VERSION = 1

# Mean and standard deviation in RGB order on a 0..1 scale (ImageNet statistics).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_JOINT_THRESHOLD = 0.3
# calibration[FLIP_THRESHOLD_KEY]: the joint threshold for flip-test heatmaps (ModelMetadata.threshold_for).
FLIP_THRESHOLD_KEY = "joint_threshold_flip"

# Normalisation.stretch never amplifies a crop's contrast more than this.
MAX_STRETCH_GAIN = 4.0


@dataclass(frozen=True)
class HourglassConfig:
    """Architecture of a Stacked Hourglass network.

    Attributes:
        num_stacks: hourglass modules in sequence (1..8); each one is supervised.
        width: feature channels inside the hourglasses (the paper uses 256).
        num_joints: heatmap channels K.
        input_size: square input side in pixels; must be a multiple of ``4 * 2**depth``.
        depth: poolings inside each hourglass (4 in the paper: 64 -> 4 at a 256 input).
    """

    num_stacks: int = 2
    width: int = 256
    num_joints: int = 14
    input_size: int = 256
    depth: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.num_stacks <= 8:
            raise ModelError(f"num_stacks must be 1..8, got {self.num_stacks}")
        if self.width < 8 or self.width % 4:
            raise ModelError(f"width must be a multiple of 4 and at least 8, got {self.width}")
        if self.num_joints < 1:
            raise ModelError(f"num_joints must be positive, got {self.num_joints}")
        if not 1 <= self.depth <= 6:
            raise ModelError(f"depth must be 1..6, got {self.depth}")
        multiple = 4 * 2**self.depth
        if self.input_size < multiple or self.input_size % multiple:
            raise ModelError(f"input_size must be a multiple of {multiple} for depth {self.depth}, "
                             f"got {self.input_size}")

    @property
    def heatmap_size(self) -> int:
        """Side of the output heatmaps: the stem downsamples by 4."""
        return self.input_size // 4


@dataclass(frozen=True)
class Normalisation:
    """Pixel normalisation: ``(rgb / 255 - mean) / std``, channel order RGB.

    ``stretch``: a percentile p (0 < p < 50) turns on a per-crop contrast stretch before it: the
    crop's p-th and (100 - p)-th percentile intensities (over all pixels and channels, so hues keep)
    are mapped to 0 and 255, with the gain capped at :data:`MAX_STRETCH_GAIN` so a flat crop's noise
    is not blown up. A person against the sun or in haze reaches the model with the contrast of a
    well-lit photo. 0 (the default, and every model file written before it) is off.
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    stretch: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.stretch < 50.0:
            raise ModelError(f"normalisation stretch must be a percentile in [0, 50), got {self.stretch}")


@dataclass(frozen=True)
class ModelMetadata:
    """Everything a runtime needs to use a model, stored inside the model file.

    Attributes:
        skeleton: registry name of the joint set (``engine.skeleton``).
        config: the network architecture.
        normalisation: input pixel normalisation.
        name: a short human name (``"hg2-w128-128"``).
        training: free-form training provenance (data, recipe, epochs).
        metrics: validation metrics, e.g. ``{"pck@0.2": 0.74}``.
        precision: ``"fp32"`` or ``"fp16"`` (weights and compute inside the graph).
        calibration: confidence thresholds measured on validation data, e.g.
            ``{"joint_threshold": 0.44, "joint_threshold_flip": 0.41}`` (see :meth:`threshold_for`).
    """

    skeleton: str
    config: HourglassConfig
    normalisation: Normalisation = field(default_factory=Normalisation)
    name: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"
    calibration: dict[str, float] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        skel = get_skeleton(self.skeleton)
        if skel.num_joints != self.config.num_joints:
            raise ModelError(f"skeleton {self.skeleton} has {skel.num_joints} joints but the network "
                             f"predicts {self.config.num_joints}")

    @property
    def skeleton_spec(self) -> Skeleton:
        return get_skeleton(self.skeleton)

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def heatmap_size(self) -> int:
        return self.config.heatmap_size

    @property
    def joint_threshold(self) -> float:
        """Confidence above which a joint is trusted (tracking) and drawn by default, for heatmaps
        read without the flip test (:meth:`threshold_for` gives the one for either way).

        Heatmap peaks are not probabilities and their scale differs between models, so a model
        carries its own threshold, calibrated on validation data when it was trained; models
        without one fall back to :data:`DEFAULT_JOINT_THRESHOLD`.
        """
        return float(self.calibration.get("joint_threshold", DEFAULT_JOINT_THRESHOLD))

    def threshold_for(self, flip_test: bool) -> float:
        """The joint threshold calibrated for the way the crop is read: with the flip test
        (``annotate``'s default, a box in the app) or without it.

        The flip test averages each heatmap with the mirrored crop's; where the two peaks disagree
        a little the average's peak is lower, so the same joints score lower (stage 16 on the LSPET
        validation pack: the threshold that best separates right from wrong joints is 0.44 alone,
        0.41 with the flip test). Reading flip-test scores against the plain threshold hides joints
        the flip test found better. Models calibrated before both were measured carry one value,
        used for both.
        """
        if flip_test and FLIP_THRESHOLD_KEY in self.calibration:
            return float(self.calibration[FLIP_THRESHOLD_KEY])
        return self.joint_threshold

    def with_updates(self, **changes: Any) -> ModelMetadata:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        try:
            version = int(data.get("format_version", FORMAT_VERSION))
            if version > FORMAT_VERSION:
                raise ModelError(f"model metadata format {version} is newer than this hgpose "
                                 f"understands ({FORMAT_VERSION}); upgrade hgpose")
            norm = data.get("normalisation") or {}
            return cls(
                skeleton=str(data["skeleton"]),
                config=HourglassConfig(**data["config"]),
                normalisation=Normalisation(mean=tuple(norm.get("mean", IMAGENET_MEAN)),
                                            std=tuple(norm.get("std", IMAGENET_STD)),
                                            stretch=float(norm.get("stretch", 0.0))),
                name=str(data.get("name", "")),
                training=dict(data.get("training", {})),
                metrics={k: float(v) for k, v in dict(data.get("metrics", {})).items()},
                precision=str(data.get("precision", "fp32")),
                calibration={k: float(v) for k, v in dict(data.get("calibration", {})).items()},
                format_version=version,
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model metadata is malformed ({exc.__class__.__name__}: {exc})") from None

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"model metadata is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError("model metadata is not a JSON object")
        return cls.from_dict(data)


def check_compatible(meta: ModelMetadata, *, skeleton: str | None = None,
                     input_size: int | None = None) -> None:
    """Refuse a model whose joints or input size differ from what the caller requires."""
    if skeleton is not None and meta.skeleton != skeleton:
        raise ModelError(f"model predicts skeleton {meta.skeleton!r} ({meta.config.num_joints} joints) "
                         f"but {skeleton!r} is required")
    if input_size is not None and meta.input_size != input_size:
        raise ModelError(f"model input size is {meta.input_size} but {input_size} is required")
