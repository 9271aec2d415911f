"""The training loop on a tiny model: it learns (overfits 4 people), resumes exactly, and logs."""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from train_synthetic import tiny_config

from engine.checkpoint import load_checkpoint, read_checkpoint
from engine.errors import ConfigError
from train.config import TrainConfig
from train.trainer import cpu_has_native_bf16, flip_consistency_loss, train


def test_overfits_four_people(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    config = tiny_config(tmp_path / "run", train_pack, val_pack, augment={"enabled": False},
                         optim={"epochs": 30, "batch_size": 4, "lr": 2e-3})
    losses: list[float] = []
    best = train(config, progress=False, on_step=lambda step, loss: losses.append(loss))

    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0], losses
    history = read_checkpoint(tmp_path / "run" / "last.pt")["history"]
    assert len(history) == 30
    assert history[-1]["val_pck"] > history[0]["val_pck"] + 0.2, [h["val_pck"] for h in history]
    _, meta = load_checkpoint(best)
    assert meta.metrics["val_pck@0.2"] == max(h["val_pck"] for h in history)


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(8)
    # 8 people, batch 2: 4 steps an epoch, 2 epochs, with augmentation on.
    common = {"optim": {"epochs": 2, "batch_size": 2}}
    straight: list[tuple[int, float]] = []
    train(tiny_config(tmp_path / "a", train_pack, val_pack, **common), progress=False,
          on_step=lambda s, v: straight.append((s, v)))

    resumed: list[tuple[int, float]] = []
    # Stop mid-epoch after 3 steps, then again after 2 more (crossing the epoch boundary), then finish.
    for max_steps in (3, 2, 0):
        train(tiny_config(tmp_path / "b", train_pack, val_pack, max_steps=max_steps, **common), progress=False,
              on_step=lambda s, v: resumed.append((s, v)))

    assert [s for s, _ in straight] == list(range(1, 9))
    assert resumed == straight  # same steps, bit-identical losses
    a = read_checkpoint(tmp_path / "a" / "last.pt")
    b = read_checkpoint(tmp_path / "b" / "last.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, 8)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    # The log matches the checkpoint's history: the partial epochs, no duplicated rows.
    with open(tmp_path / "b" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [3, 4, 5, 8]
    assert rows[-1]["val_pck"] != ""


def test_ctrl_c_saves_the_partial_epoch_and_the_run_resumes_exactly(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(8)
    common = {"optim": {"epochs": 2, "batch_size": 2}}  # 4 steps an epoch
    straight: list[tuple[int, float]] = []
    train(tiny_config(tmp_path / "a", train_pack, val_pack, **common), progress=False,
          on_step=lambda s, v: straight.append((s, v)))

    resumed: list[tuple[int, float]] = []

    def ctrl_c_at_step_3(step: int, value: float) -> None:
        resumed.append((step, value))
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path / "b", train_pack, val_pack, **common), progress=False, on_step=ctrl_c_at_step_3)
    assert read_checkpoint(tmp_path / "b" / "last.pt")["step"] == 3  # saved mid-epoch, not lost
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    train(tiny_config(tmp_path / "b", train_pack, val_pack, **common), progress=False,
          on_step=lambda s, v: resumed.append((s, v)))
    assert resumed == straight  # the interrupted run, resumed, is the uninterrupted one


def test_ctrl_c_from_a_terminal_leaves_the_data_workers_running(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(16)
    # 8 steps an epoch from 2 worker processes. A terminal's Ctrl-C reaches the workers too: here
    # they get it twice at step 1, and the main process once at step 6, after the batches
    # prefetched before step 1 are used up. A worker that died of it would fail the fetch with a
    # RuntimeError (and a forked worker that kept the main process's handler would print its notice).
    config = tiny_config(tmp_path / "run", train_pack, val_pack, data={"num_workers": 2},
                         optim={"epochs": 2, "batch_size": 2})

    def terminal_ctrl_c(step: int, _value: float) -> None:
        if step == 1:
            workers = multiprocessing.active_children()
            assert len(workers) == 2
            for _ in range(2):
                for worker in workers:
                    os.kill(worker.pid, signal.SIGINT)
                time.sleep(0.2)
        if step == 6:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(config, progress=False, on_step=terminal_ctrl_c)
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 6


def _first_run(out: Path, train_pack: Path, val_pack: Path, **overrides: object) -> tuple[TrainConfig, list[float]]:
    """Train the tiny model 10 epochs on 4 people without augmentation, as the run that a second run
    starts from (``init_from=out/last.pt``); returns its config and its losses, step by step."""
    config = tiny_config(out, train_pack, val_pack, augment={"enabled": False},
                         optim={"epochs": 10, "batch_size": 4, "lr": 2e-3}, **overrides)
    losses: list[float] = []
    train(config, progress=False, on_step=lambda s, v: losses.append(v))
    return config, losses


def test_init_from_starts_a_fresh_run_from_trained_weights(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    _, losses = _first_run(tmp_path / "first", train_pack, val_pack)

    # Another batch size and schedule; the run starts at step 1 but from the trained weights, so its
    # first loss is where the first run ended, well below where that one began.
    second = tiny_config(tmp_path / "second", train_pack, val_pack, augment={"enabled": False},
                         init_from=str(tmp_path / "first" / "last.pt"),
                         optim={"epochs": 1, "batch_size": 2, "lr": 1e-4})
    again: list[tuple[int, float]] = []
    train(second, progress=False, on_step=lambda s, v: again.append((s, v)))
    assert again[0][0] == 1
    assert again[0][1] < 0.8 * losses[0], (losses, again)
    assert abs(again[0][1] - losses[-1]) < 0.1 * losses[-1], (losses, again)


def test_init_from_refuses_another_architecture(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    train(tiny_config(tmp_path / "first", train_pack, val_pack, optim={"epochs": 1, "batch_size": 4}),
          progress=False)
    other = tiny_config(tmp_path / "second", train_pack, val_pack, init_from=str(tmp_path / "first" / "last.pt"),
                        model={"width": 16})
    with pytest.raises(ConfigError, match="init_from"):
        train(other, progress=False)


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="CPU has no native bfloat16")
def test_bfloat16_on_cpu_still_learns(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    config = tiny_config(tmp_path / "run", train_pack, val_pack, augment={"enabled": False}, cpu_bf16=True,
                         optim={"epochs": 30, "batch_size": 4, "lr": 2e-3})
    losses: list[float] = []
    train(config, progress=False, on_step=lambda step, loss: losses.append(loss))
    assert losses[-1] < 0.5 * losses[0], losses


def test_max_minutes_stops_resumably(tmp_path: Path, packs) -> None:
    from train.trainer import TIME_CHECK_EVERY

    train_pack, val_pack = packs(8)
    # 8 people, batch 2: 4 steps an epoch, 5 epochs. A budget already spent stops at the first check.
    common = {"optim": {"epochs": 5, "batch_size": 2}}
    steps: list[int] = []
    train(tiny_config(tmp_path / "run", train_pack, val_pack, max_minutes=1e-9, **common), progress=False,
          on_step=lambda s, v: steps.append(s))
    assert steps == list(range(1, TIME_CHECK_EVERY + 1))
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == TIME_CHECK_EVERY

    train(tiny_config(tmp_path / "run", train_pack, val_pack, **common), progress=False,
          on_step=lambda s, v: steps.append(s))
    assert steps == list(range(1, 21))


def test_resume_refuses_another_batch_size_and_needs_no_init_file(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(8)
    train(tiny_config(tmp_path / "first", train_pack, val_pack, optim={"epochs": 1, "batch_size": 4}), progress=False)
    init = tmp_path / "init.pt"
    init.write_bytes((tmp_path / "first" / "last.pt").read_bytes())
    common = {"init_from": str(init), "optim": {"epochs": 2, "batch_size": 2}}
    train(tiny_config(tmp_path / "run", train_pack, val_pack, max_steps=3, **common), progress=False)
    init.unlink()  # resuming reads last.pt only: the init file is no longer needed
    steps: list[int] = []
    train(tiny_config(tmp_path / "run", train_pack, val_pack, **common), progress=False,
          on_step=lambda s, v: steps.append(s))
    assert steps == [4, 5, 6, 7, 8]

    bigger = {**common, "optim": {"epochs": 3, "batch_size": 4}}
    with pytest.raises(ConfigError, match=r"batch size 2 on 1 process.*init_from="):
        train(tiny_config(tmp_path / "run", train_pack, val_pack, **bigger), progress=False)


def test_bad_budgets_are_config_errors(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    for bad in ({"val_every": 0}, {"max_minutes": -1.0}):
        with pytest.raises(ConfigError, match="val_every"):
            tiny_config(tmp_path / "run", train_pack, val_pack, **bad)


def test_init_from_a_narrower_model_widens_it(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    _, losses = _first_run(tmp_path / "narrow", train_pack, val_pack, model={"width": 16})

    wide = tiny_config(tmp_path / "wide", train_pack, val_pack, augment={"enabled": False},
                       init_from=str(tmp_path / "narrow" / "last.pt"), optim={"epochs": 1, "batch_size": 4, "lr": 1e-4})
    again: list[float] = []
    best = train(wide, progress=False, on_step=lambda s, v: again.append(v))
    # The wide model starts where the narrow one ended (the same function), far below a fresh start.
    assert abs(again[0] - losses[-1]) < 0.1 * losses[-1], (losses, again)
    assert again[0] < 0.8 * losses[0], (losses, again)
    _, meta = load_checkpoint(best)
    assert meta.config.width == 32


def test_init_from_a_model_with_fewer_stacks_deepens_it(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    shallow, losses = _first_run(tmp_path / "shallow", train_pack, val_pack)
    stacks = shallow.model.num_stacks

    deep = tiny_config(tmp_path / "deep", train_pack, val_pack, augment={"enabled": False},
                       model={"num_stacks": stacks + 1}, init_from=str(tmp_path / "shallow" / "last.pt"),
                       optim={"epochs": 1, "batch_size": 4, "lr": 1e-4})
    again: list[float] = []
    best = train(deep, progress=False, on_step=lambda s, v: again.append(v))
    # The loss sums the stacks; the new last stack repeats the old last one's heatmaps, so the first
    # loss is the trained one's plus its last stack's share again: far below a fresh start's.
    assert again[0] < 0.8 * losses[0] * (stacks + 1) / stacks, (losses, again)
    _, meta = load_checkpoint(best)
    assert meta.config.num_stacks == stacks + 1
    fewer = tiny_config(tmp_path / "fewer", train_pack, val_pack, init_from=str(tmp_path / "deep" / "last.pt"))
    with pytest.raises(ConfigError, match="init_from"):
        train(fewer, progress=False)


def test_flip_consistency_is_zero_for_a_mirror_symmetric_network_and_its_target_is_fixed() -> None:
    swap = (1, 0)  # two joints, each the other's mirror
    x = torch.rand(3, 2, 4, 6, generator=torch.Generator().manual_seed(0))

    def symmetric(crops: torch.Tensor) -> list[torch.Tensor]:
        # the same left-right symmetric map for both joints: mirroring the crop changes nothing
        m = crops.mean(1, keepdim=True)
        return [(m + m.flip(-1)).expand(-1, 2, -1, -1)]

    assert float(flip_consistency_loss(symmetric, x, symmetric(x), swap)) == pytest.approx(0.0, abs=1e-7)

    p = torch.tensor(1.5, requires_grad=True)

    def scaled(crops: torch.Tensor) -> list[torch.Tensor]:
        return [crops * p]

    loss = flip_consistency_loss(scaled, x, scaled(x), swap)
    loss.backward()
    # the flip-test target, 0.5 p (x + x with the joints swapped), enters as a constant
    target = 0.5 * 1.5 * (x + x[:, list(swap)])
    assert float(loss.detach()) == pytest.approx(float(((1.5 * x - target) ** 2).mean()), rel=1e-5)
    assert float(p.grad) == pytest.approx(float((2 * (1.5 * x - target) * x).mean()), rel=1e-5)


def test_flip_consistency_adds_to_the_loss_and_training_still_learns(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    runs: dict[float, list[float]] = {}
    for weight in (0.0, 1.0):
        config = tiny_config(tmp_path / f"run{weight}", train_pack, val_pack, augment={"enabled": False},
                             data={"flip_consistency_weight": weight}, optim={"epochs": 30, "batch_size": 4})
        runs[weight] = []
        train(config, progress=False, on_step=lambda step, loss, into=runs[weight]: into.append(loss))
    assert runs[1.0][0] > runs[0.0][0]  # same seed and first batch: the extra term is all the difference
    # It learns: the total falls by well over a third in 30 steps (0.48-0.52 x its start on the CPUs
    # measured; oneDNN's kernels differ between them). The consistency term, pulled towards a
    # moving target, falls more slowly than the label loss (0.36 x without it).
    assert runs[1.0][-1] < 0.65 * runs[1.0][0], runs[1.0]
    with pytest.raises(ConfigError, match="flip_consistency_weight"):
        tiny_config(tmp_path / "bad", train_pack, val_pack, data={"flip_consistency_weight": -1.0})


def test_contrast_stretch_trains_into_the_model_file(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    config = tiny_config(tmp_path / "run", train_pack, val_pack, data={"contrast_stretch": 2.0}, max_steps=1)
    best = train(config, progress=False)
    _, meta = load_checkpoint(best)
    # The runtime reads it from the file: every backend stretches as training did.
    assert meta.normalisation.stretch == 2.0
    with pytest.raises(ConfigError, match="contrast_stretch"):
        tiny_config(tmp_path / "bad", train_pack, val_pack, data={"contrast_stretch": 50.0})


def test_mirrored_in_step_reads_each_person_against_their_labels() -> None:
    from train_synthetic import random_pose

    from engine.crop import input_to_heatmap
    from engine.skeleton import LSP14
    from train.trainer import mirrored_in_step

    rng = np.random.default_rng(0)
    labels = np.stack([random_pose(rng, (32.0, 32.0), 50.0) for _ in range(3)])
    perm = list(LSP14.flip_permutation())
    reads = [labels[0], labels[1][perm], labels[2]]  # the second person read with left and right swapped
    labels[2, :, 2] = 0  # the third unlabelled: never counted as mirrored
    heat = torch.zeros(3, 14, 16, 16)
    for i, read in enumerate(reads):
        for j, (x, y) in enumerate(np.rint(input_to_heatmap(read[:, :2], 4.0)).astype(int)):
            heat[i, j, y, x] = 1.0

    assert mirrored_in_step(heat, torch.from_numpy(labels), LSP14, 4.0).tolist() == [False, True, False]


def test_mirror_weight_scales_the_loss_of_people_read_mirrored(tmp_path: Path, packs) -> None:
    train_pack, val_pack = packs(4)
    losses: dict[float, list[float]] = {}
    for weight in (1.0, 5.0):
        losses[weight] = []
        # Flipped crops with unflipped expectations are mirrored reads at first: the weight must show.
        config = tiny_config(tmp_path / f"w{weight}", train_pack, val_pack, data={"mirror_weight": weight},
                             augment={"flip_prob": 1.0, "rotation_prob": 0.0}, optim={"epochs": 1, "batch_size": 4})
        train(config, progress=False, on_step=lambda s, v, w=weight: losses[w].append(v))
    assert losses[5.0] != losses[1.0]
    with pytest.raises(ConfigError, match="mirror_weight must be a finite 0 or more"):
        tiny_config(tmp_path / "bad", train_pack, val_pack, data={"mirror_weight": -1.0})
