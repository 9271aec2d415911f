"""``hgpose train`` from the command line: a TOML config with overrides runs; bad input is one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from train_synthetic import write_tiny_toml

from engine.checkpoint import load_checkpoint
from engine.errors import ConfigError
from train.commands.train import main
from train.config import load_config


def _toml(path: Path, train_pack: Path, val_pack: Path, optim_extra: str = "") -> Path:
    return write_tiny_toml(path, train_pack, val_pack, extra='name = "tiny"',
                           optim=f'name = "rmsprop"\nlr = 2.5e-4\nepochs = 3\n{optim_extra}')


def test_config_file_and_overrides(tmp_path: Path) -> None:
    config = load_config(_toml(tmp_path / "c.toml", Path("t.npz"), Path("v.npz")),
                         ["optim.lr=1e-3", "optim.step_epochs=[2, 4]", "augment.scale=[0.8, 1.2]", "name=other"])
    assert (config.optim.name, config.optim.lr, config.optim.step_epochs) == ("rmsprop", 1e-3, (2, 4))
    assert config.augment.scale == (0.8, 1.2) and config.name == "other"
    assert config.model.input_size == 64 and config.model.num_stacks == 1
    with pytest.raises(AttributeError):  # frozen
        config.optim.lr = 1.0  # type: ignore[misc]


def test_train_command_runs_and_stores_config_and_metrics(tmp_path: Path, packs,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    train_pack, val_pack = packs(4)
    config = _toml(tmp_path / "c.toml", train_pack, val_pack)

    assert main(["--config", str(config), "--set", "optim.epochs=1", "--quiet"]) == 0

    assert capsys.readouterr().out.strip() == f"best checkpoint: {tmp_path / 'run' / 'best.pt'}"
    _, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    assert meta.name == "tiny" and meta.training["config"]["optim"]["epochs"] == 1
    assert set(meta.metrics) == {"val_pck@0.2", "val_pck@0.2_limbs", "epoch"}


@pytest.mark.parametrize(("extra_args", "toml_extra", "message", "code"), [
    (["--set", "optim.lr_typo=1"], "", "unknown config key optim.lr_typo", ConfigError.exit_code),
    ([], "betas = [0.9, 0.99]", "unknown config key optim.betas", ConfigError.exit_code),
    (["--set", "optim.name=sgd"], "", "unknown optimiser", ConfigError.exit_code),
    (["--set", "model.input_size=100"], "", "input_size must be a multiple", ConfigError.exit_code),
    (["--set", "data.skeleton='mpii16'", "--set", "model.num_joints=16"], "", "holds lsp14 joints",
     ConfigError.exit_code),
    (["--set", "data.train_pack='nowhere.npz'"], "", "does not exist", 2),
    (["--set", "data.back_view_weight=-1.0"], "", "back_view_weight must be a finite 0 or more", ConfigError.exit_code),
    (["--set", "data.back_view_weight=3.0"], "", "holds no teacher keypoints to tell back views by",
     ConfigError.exit_code),
    (["--config", "missing.toml"], "", "does not exist", ConfigError.exit_code),
])
def test_train_bad_input_is_one_line(extra_args: list[str], toml_extra: str, message: str, code: int,
                                     tmp_path: Path, packs, capsys: pytest.CaptureFixture[str]) -> None:
    train_pack, val_pack = packs(2)
    config = _toml(tmp_path / "c.toml", train_pack, val_pack, toml_extra)
    if extra_args[:1] == ["--config"]:
        args = ["--config", str(tmp_path / extra_args[1])]
    else:
        args = ["--config", str(config), *extra_args]

    rc = main([*args, "--quiet"])

    err = capsys.readouterr().err
    assert rc == code
    assert err.startswith("hgpose train: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "run").exists()  # no checkpoint, no lock file, no empty folder


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_second_run_on_the_same_out_dir_is_refused(tmp_path: Path, packs,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl

    train_pack, val_pack = packs(2)
    config = _toml(tmp_path / "c.toml", train_pack, val_pack, "")
    run = tmp_path / "run"
    run.mkdir()
    # Another run holds the directory (a second open file description conflicts even in this process).
    with open(run / ".lock", "a+") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc = main(["--config", str(config), "--quiet"])
        err = capsys.readouterr().err
        assert rc == ConfigError.exit_code
        assert err.startswith("hgpose train: error: another training run is using") and err.count("\n") == 1, err
        assert not (run / "last.pt").exists()  # nothing of the other run's was touched
    # Once the other run is gone, the directory is free again, and released after this run too.
    assert main(["--config", str(config), "--quiet"]) == 0
    assert (run / "last.pt").is_file() and not (run / ".lock").exists()  # a finished run leaves no lock
    with open(run / ".lock", "a+") as again:
        fcntl.flock(again.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
