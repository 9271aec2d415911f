"""The torch-cuda backend and the device-side estimate on a real GPU; every test skips without CUDA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gpu_fixtures import (  # noqa: E402
    BLOB_META,
    BlobBackend,
    assert_infer_close,
    blob_heatmaps_torch,
    blob_scene,
    blob_truth_error,
    clip_frames,
    frame_boxes,
    joint_agreement,
)

from engine.backends.base import Backend  # noqa: E402
from engine.backends.registry import open_backend  # noqa: E402
from engine.gpu.cuda_graphs import GraphPolicy  # noqa: E402
from engine.gpu.device_estimate import DeviceEstimator  # noqa: E402

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of PyTorch")]


@pytest.fixture(scope="module")
def cuda_backend(tiny_checkpoint: Path) -> Iterator[Backend]:
    backend = open_backend(tiny_checkpoint, "torch-cuda")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def cpu_backend(tiny_checkpoint: Path) -> Backend:
    return open_backend(tiny_checkpoint, "torch")


def test_registry_opens_the_cuda_backend(cuda_backend: Backend) -> None:
    from engine.gpu.torch_cuda_backend import TorchCudaBackend

    assert isinstance(cuda_backend, TorchCudaBackend)
    assert cuda_backend.name == "torch-cuda" and "fp16" in cuda_backend.describe()


@pytest.mark.parametrize("batch", [1, 3, 8, 64])
def test_fp16_infer_matches_cpu(cuda_backend: Backend, cpu_backend: Backend, batch: int) -> None:
    assert_infer_close(cuda_backend, cpu_backend, batch)


def test_cuda_graphs_replay_what_eager_execution_computes(tiny_checkpoint: Path) -> None:
    from engine.gpu.torch_cuda_backend import TorchCudaBackend

    graphed = TorchCudaBackend(tiny_checkpoint)
    eager = TorchCudaBackend(tiny_checkpoint, graphs=GraphPolicy(enabled=False))
    rng = np.random.default_rng(0)
    for batch in (2, 8, 2, 8):  # the repeats replay the graphs captured by the first two
        x = rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)
        np.testing.assert_allclose(graphed.infer(x), eager.infer(x), atol=2e-3)
    assert {(2, 3, 64, 64), (8, 3, 64, 64)} <= set(graphed._graphs.shapes)
    assert eager._graphs.shapes == []
    graphed.close()
    eager.close()


def test_graph_count_is_bounded(tiny_checkpoint: Path) -> None:
    from engine.gpu.torch_cuda_backend import TorchCudaBackend

    backend = TorchCudaBackend(tiny_checkpoint, graphs=GraphPolicy(max_graphs=2))
    for batch in (1, 2, 3, 4):
        backend.infer(np.zeros((batch, 3, 64, 64), np.float32))
    assert len(backend._graphs.shapes) == 2  # the rest ran eagerly
    backend.close()


@pytest.mark.parametrize("flip", [False, True])
def test_device_estimate_on_cuda_finds_the_blob(flip: bool) -> None:
    frames, boxes, truth = blob_scene(num_frames=8, per_frame=4)  # 32 crops, 64 with the flip test
    cpu = BlobBackend(Path("blob"), BLOB_META).estimate(frames, boxes, flip=flip)
    stream = torch.cuda.Stream()
    estimator = DeviceEstimator(BLOB_META, torch.device("cuda"), stream, max_frames_per_warp=3)
    for _ in range(2):  # the second call reuses the pinned staging buffer
        got = estimator.estimate(frames, boxes, flip, None, blob_heatmaps_torch)
    assert blob_truth_error(got, cpu, boxes) < 0.01
    assert blob_truth_error(got, truth, boxes) < 0.05


@pytest.mark.parametrize("flip", [False, True])
def test_estimate_on_real_frames_agrees_with_the_cpu_path(cuda_backend: Backend, cpu_backend: Backend,
                                                          flip: bool) -> None:
    frames = clip_frames(count=16, step=5)
    boxes = frame_boxes(frames, per_frame=2)  # 32 crops (64 with the flip test): an offline batch
    batch_frames = [f for f in frames for _ in range(2)]
    got = cuda_backend.estimate(batch_frames, boxes, flip=flip)
    ref = cpu_backend.estimate(batch_frames, boxes, flip=flip)
    assert got.shape == ref.shape == (32, 14, 3) and got.dtype == np.float32
    assert np.isfinite(got).all()
    assert joint_agreement(got, ref, boxes, 64) > 0.9
    np.testing.assert_allclose(got[..., 2], ref[..., 2], atol=3e-2)
