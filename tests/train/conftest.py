"""Fixtures for the training tests (see ``train_synthetic`` for the helpers they use)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from train_synthetic import write_lsp_folder

from train.pack import PackSpec, write_pack


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tiny models gain nothing from threads, and OpenMP threads spinning against another busy
    process (a training run, a parallel CI job) slow them down a hundredfold."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def lsp_folder(tmp_path: Path) -> Callable[..., Path]:
    def make(n: int = 4, layout: str = "lspet", seed: int = 0, name: str = "lsp") -> Path:
        root = tmp_path / name
        write_lsp_folder(root, n, layout, seed)
        return root
    return make


@pytest.fixture
def packs(tmp_path: Path, lsp_folder: Callable[..., Path]) -> Callable[..., tuple[Path, Path]]:
    """Train and validation packs of ``n`` synthetic people each (the same people: an overfit set)."""
    def make(n: int = 4, seed: int = 0) -> tuple[Path, Path]:
        from train.datasets.lsp import load_lsp

        root = lsp_folder(n, seed=seed, name=f"people{n}-{seed}")
        samples = load_lsp(root)
        spec = PackSpec(pack_size=96, context=1.5, jpeg_quality=95)
        train = write_pack(samples, tmp_path / f"train{n}-{seed}.npz", spec, skeleton="lsp14", source="test",
                           progress=False)
        return train, train
    return make


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repository (CI and developers have it; a fresh user machine does not)."""
    path = Path(__file__).resolve().parents[2].parent / "shared"
    if not (path / "datasets").is_dir():
        pytest.skip("../shared is not available")
    return path
