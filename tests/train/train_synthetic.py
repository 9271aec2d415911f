"""Helpers for the training tests: synthetic people drawn as stick figures, LSP-layout folders and
tiny training configs, all made in a temporary folder (no ../shared needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io

from engine.metadata import HourglassConfig
from engine.skeleton import LSP14
from train.config import TrainConfig, config_from_dict, merge
from train.datasets.base import PoseSample, person_box
from train.teachers import BLAZEPOSE_TO_LSP, MOVENET_TO_LSP

# A standing person facing the camera (their right on the image's left), about 1.1 units tall.
TEMPLATE = np.array([
    (-0.15, 1.0), (-0.13, 0.75), (-0.1, 0.5), (0.1, 0.5), (0.13, 0.75), (0.15, 1.0),
    (-0.35, 0.5), (-0.3, 0.3), (-0.18, 0.12), (0.18, 0.12), (0.3, 0.3), (0.35, 0.5),
    (0.0, 0.08), (0.0, -0.1),
])
TINY_MODEL = HourglassConfig(num_stacks=1, width=32, num_joints=14, input_size=64, depth=4)


def random_pose(rng: np.random.Generator, centre: tuple[float, float], height: float) -> np.ndarray:
    """(14, 3) LSP14 joints, all labelled, in image pixels."""
    pts = TEMPLATE + rng.normal(0.0, 0.05, TEMPLATE.shape)
    pts = (pts - [0.0, 0.45]) * height + centre
    return np.column_stack([pts, np.ones(14)]).astype(np.float32)


def draw_person(image: np.ndarray, joints: np.ndarray) -> None:
    """Stick figure in place: limbs coloured by side (so left and right are distinguishable), a head."""
    pts = [tuple(int(v) for v in p) for p in np.round(joints[:, :2])]
    for a, b in LSP14.limbs:
        cv2.line(image, pts[a], pts[b], LSP14.limb_colour((a, b)), 3, cv2.LINE_AA)
    for i, p in enumerate(pts):
        cv2.circle(image, p, 3, LSP14.joint_colour(i), -1, cv2.LINE_AA)


def write_lsp_folder(root: Path, n: int, layout: str = "lspet", seed: int = 0,
                     size: tuple[int, int] = (120, 100)) -> np.ndarray:
    """An LSP-layout folder of ``n`` stick-figure images; returns the joints (n, 14, 3)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    w, h = size
    all_joints = []
    for i in range(n):
        image = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
        joints = random_pose(rng, (w / 2 + rng.uniform(-8, 8), h / 2 + rng.uniform(-5, 5)), 0.7 * h)
        draw_person(image, joints)
        cv2.imwrite(str(root / "images" / f"im{i + 1:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        all_joints.append(joints)
    joints = np.stack(all_joints)
    if layout == "lspet":  # (14, 3, N), third row = visible
        data = joints.transpose(1, 2, 0)
    else:  # original LSP: (3, 14, N), third row = occluded flag
        data = joints.transpose(2, 1, 0).copy()
        data[2] = 0.0
    scipy.io.savemat(str(root / "joints.mat"), {"joints": data})
    return joints


def tiny_config(out_dir: Path, train_pack: Path, val_pack: Path, **overrides: Any) -> TrainConfig:
    """A TrainConfig for the tiny model on the given packs; ``overrides`` are nested like the TOML
    (``optim={"lr": 1e-3}``, ``max_steps=3``)."""
    base = {"out_dir": str(out_dir), "tensorboard": False,
            "data": {"train_pack": str(train_pack), "val_pack": str(val_pack)},
            "model": dataclasses.asdict(TINY_MODEL),
            "optim": {"warmup_steps": 0, "schedule": "constant", "lr": 2e-3, "batch_size": 4, "epochs": 1}}
    return config_from_dict(merge(merge(dataclasses.asdict(TrainConfig()), base), overrides))


def sample_of(joints: np.ndarray, path: Path) -> PoseSample:
    return PoseSample(path, joints, person_box(joints))


def constant_onnx_model(path: Path, heatmaps: np.ndarray, config: HourglassConfig = TINY_MODEL) -> Path:
    """An ONNX model (with hgpose metadata) that outputs ``heatmaps`` (K, H, W) whatever its input:
    a model whose answer is known. The input still flows through the graph (times zero) so the
    batch size follows it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from engine.metadata import METADATA_KEY, ModelMetadata

    k, h, w = heatmaps.shape
    s = config.input_size
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2, 3], keepdims=1),
         helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
         helper.make_node("Add", ["nothing", "answer"], ["heatmaps"])],
        "constant",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, s, s])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["batch", k, h, w])],
        [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"),
         numpy_helper.from_array(heatmaps[None].astype(np.float32), "answer")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by older ONNX Runtime releases too
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, ModelMetadata(skeleton="lsp14", config=config).to_json()
    onnx.save(model, str(path))
    return path


def gaussian_peaks(centres: np.ndarray, size: int, sigma: float = 1.5) -> np.ndarray:
    """(K, size, size) float32 Gaussians of height 1 at sub-pixel ``centres`` (K, 2), heatmap pixels."""
    grid = np.arange(size, dtype=np.float64)
    gx = np.exp(-((grid[None, :] - centres[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((grid[None, :] - centres[:, 1:2]) ** 2) / (2 * sigma**2))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def write_tiny_toml(path: Path, train_pack: Path, val_pack: Path, extra: str = "", optim: str = "") -> Path:
    """A TOML training config for the tiny model, 2-image batches, output in ``path.parent / "run"``;
    ``extra`` and ``optim`` are lines added to the top level and the [optim] table."""
    path.write_text(f"""
out_dir = "{path.parent / 'run'}"
tensorboard = false
{extra}
[model]
num_stacks = {TINY_MODEL.num_stacks}
width = {TINY_MODEL.width}
input_size = {TINY_MODEL.input_size}
[data]
train_pack = "{train_pack}"
val_pack = "{val_pack}"
[optim]
batch_size = 2
warmup_steps = 0
{optim}
""")
    return path


def teacher_arrays(joints: np.ndarray, score: float = 0.9, jitter: float = 0.0,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Teacher-file arrays whose keypoints are ``joints`` (N, 14, 3) plus noise: both teachers
    see the person as labelled. Points LSP lacks (face, feet) sit at the head."""
    rng = np.random.default_rng(seed)
    n = len(joints)
    movenet = np.zeros((n, 17, 3), np.float32)
    blazepose = np.zeros((n, 33, 3), np.float32)
    for arr, mapping in ((movenet, MOVENET_TO_LSP), (blazepose, BLAZEPOSE_TO_LSP)):
        arr[..., :2] = joints[:, [13], :2]
        arr[..., 2] = score
        arr[:, list(mapping), :2] = joints[:, :12, :2] + rng.normal(0, jitter, (n, 12, 2))
    return {"movenet": movenet, "blazepose": blazepose, "names": np.array([f"im{i + 1:05d}.jpg" for i in range(n)])}
