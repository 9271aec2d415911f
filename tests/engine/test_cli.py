import subprocess
import sys

from engine.cli import main


def test_help_lists_every_command(capsys) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in ("app", "annotate", "train", "eval", "export", "build-engine", "bench"):
        assert f"\n  {name}" in out


def test_unknown_command(capsys) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("hgpose ")
