"""Per-model joint-confidence thresholds: measured on validation data, stored, and used."""

from pathlib import Path

import numpy as np
import pytest
from train_synthetic import tiny_config

from engine.checkpoint import load_checkpoint
from engine.skeleton import LSP14
from train.calibration import calibration_thresholds, joint_threshold
from train.commands.calibrate import main as calibrate
from train.trainer import train


def people(n: int, rng: np.random.Generator) -> np.ndarray:
    truth = np.zeros((n, 14, 3), np.float32)
    truth[..., :2] = rng.uniform(0, 100, (n, 14, 2))
    truth[..., 2] = 1
    truth[:, LSP14.index("L shoulder"), :2] = (40, 20)
    truth[:, LSP14.index("R hip"), :2] = (60, 80)  # torso ~63 px: a joint within ~12.6 px is correct
    return truth


def guesses(truth: np.ndarray, rng: np.random.Generator, wrong_share: float,
            right_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (N, 14, 3) of ``truth`` with a random ``wrong_share`` of joints 40 px off (the
    rest ``right_offset`` px off), and the (N, 14) mask of the wrong ones; scores left to the test."""
    wrong = rng.random(truth.shape[:2]) < wrong_share
    pred = truth.copy()
    pred[..., :2] += np.where(wrong[..., None], 40.0, right_offset)
    return pred, wrong


def test_threshold_separates_correct_from_wrong_joints() -> None:
    rng = np.random.default_rng(0)
    truth = people(200, rng)
    pred, wrong = guesses(truth, rng, 0.4, right_offset=1.0)  # wrong joints are 40 px off
    # Correct joints peak around 0.6, wrong ones around 0.15: the threshold must fall between.
    pred[..., 2] = np.where(wrong, rng.uniform(0.05, 0.25, wrong.shape), rng.uniform(0.4, 0.8, wrong.shape))
    t = joint_threshold(pred, truth, LSP14)
    assert 0.25 <= t <= 0.4


def test_nothing_to_separate_gives_none() -> None:
    truth = people(10, np.random.default_rng(2))
    assert joint_threshold(truth, truth, LSP14) is None  # every joint right


def test_threshold_follows_the_model_scale() -> None:
    rng = np.random.default_rng(1)
    truth = people(200, rng)
    pred, wrong = guesses(truth, rng, 0.5)
    conf = np.where(wrong, rng.uniform(0.02, 0.1, wrong.shape), rng.uniform(0.12, 0.2, wrong.shape))
    pred[..., 2] = conf  # a weak model: everything is below the generic 0.3
    assert 0.1 <= joint_threshold(pred, truth, LSP14) <= 0.12
    pred[..., 2] = conf * 4  # the same ranking at four times the scale
    assert 0.4 <= joint_threshold(pred, truth, LSP14) <= 0.48


def test_each_way_of_reading_gets_its_own_threshold() -> None:
    rng = np.random.default_rng(2)
    truth = people(200, rng)
    pred, wrong = guesses(truth, rng, 0.5)
    pred[..., 2] = np.where(wrong, rng.uniform(0.1, 0.4, wrong.shape), rng.uniform(0.45, 0.8, wrong.shape))
    flipped = pred.copy()
    flipped[..., 2] -= 0.1  # the same joints, averaged peaks a little lower
    found = calibration_thresholds(pred, flipped, truth, LSP14)
    assert set(found) == {"joint_threshold", "joint_threshold_flip"}
    assert found["joint_threshold_flip"] == pytest.approx(found["joint_threshold"] - 0.1, abs=0.011)
    # What cannot be measured is left out, not guessed.
    only_flip = calibration_thresholds(truth, flipped, truth, LSP14)
    assert only_flip == {"joint_threshold_flip": found["joint_threshold_flip"]}


def test_training_stores_and_calibrate_rewrites_the_threshold(tmp_path: Path, packs,
                                                              capsys: pytest.CaptureFixture) -> None:
    train_pack, val_pack = packs(4)
    # Overfit the 4 people (one step per epoch) so validation has right and wrong joints.
    best = train(tiny_config(tmp_path / "run", train_pack, val_pack, val_every=30, optim={"epochs": 30}),
                 progress=False)
    _, meta = load_checkpoint(best)
    assert {"joint_threshold", "joint_threshold_flip"} <= meta.calibration.keys()  # plain crops and flip test
    assert meta.joint_threshold == meta.calibration["joint_threshold"]
    assert meta.threshold_for(True) == meta.calibration["joint_threshold_flip"]
    out = tmp_path / "calibrated.pt"
    assert calibrate([str(best), "--val-pack", str(val_pack), "--out", str(out)]) == 0
    assert "joint_threshold" in capsys.readouterr().out
    _, again = load_checkpoint(out)
    assert again.calibration == meta.calibration  # same weights, same data: same threshold
