"""The ``hgpose`` dispatcher and what every command shares: help texts and one-line option refusals."""

import importlib
import subprocess
import sys

import pytest
from closed_pipe import run_into_closed_pipe

from engine.cli import command_modules, main, summary
from engine.commands.annotate import main as annotate
from train.commands.export import main as export


def test_help_lists_every_command(capsys) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in ("app", "annotate", "train", "eval", "export", "build-engine", "bench"):
        assert f"\n  {name} " in out


def test_unknown_command(capsys) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("hgpose ")


def test_help_lists_every_command_with_a_description(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in command_modules():
        line = next(line for line in out.splitlines() if line.startswith(f"  {name} "))
        description = line[len(name) + 2:].strip()
        assert description[:1].isupper() and "``" not in description, line


def test_a_description_is_the_first_sentence_of_the_module_docstring(tmp_path, monkeypatch) -> None:
    (tmp_path / "hgpose_fake_command.py").write_text(
        '"""``hgpose fake IN --out DIR``: count the :class:`Frames` of a clip.\n\nMore detail here."""\n'
        "raise RuntimeError('summary() must not import the module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert summary("hgpose_fake_command") == "Count the Frames of a clip"


def _parsers():
    for name, module in sorted(command_modules().items()):
        yield name, importlib.import_module(module).build_parser()


def test_every_option_has_help_and_no_markup() -> None:
    for name, parser in _parsers():
        for action in parser._actions:
            assert action.help, f"hgpose {name} {action.option_strings or action.dest} has no help text"
        text = parser.format_help()
        for markup in ("``", ":class:", ":func:", ":mod:", "::\n"):
            assert markup not in text, f"hgpose {name} --help shows {markup!r}"


@pytest.mark.parametrize(("args", "words"), [
    (["--threshold", "5"], "argument --threshold: must be from 0 to 1, got 5"),
    (["--threshold", "-1"], "argument --threshold: must be from 0 to 1, got -1"),
    (["--threshold", "nan"], "argument --threshold: expected a number from 0 to 1, got 'nan'"),
    (["--batch", "0"], "argument --batch: must be at least 1, got 0"),
    (["--batch", "-3"], "argument --batch: must be at least 1, got -3"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_annotate_refuses_bad_option_values(args, words, refused, tmp_path) -> None:
    code, err = refused(annotate, [*args, "--out", str(tmp_path / "o")])
    assert code == 6 and err.startswith(f"hgpose annotate: error: {words}")
    assert not (tmp_path / "o").exists()  # refused before anything was made


def test_export_checks_its_out_before_loading_torch(refused, tmp_path) -> None:
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"not read: the output is refused first")
    assert refused(export, [str(ckpt), "--out", str(tmp_path / "m.bin")]) == (
        6, "hgpose export: error: --out must end in .onnx (got m.bin), so backends can find it\n")
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code, err = refused(export, [str(ckpt), "--out", str(blocker / "m.onnx")])
    assert code == 5 and f"{blocker} is a file, not a folder" in err
    code, err = refused(export, [str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")])
    assert code == 3 and "does not exist" in err
    code, err = refused(export, [str(ckpt), "--out", str(tmp_path / "m.onnx"), "--opset", "16"])
    assert code == 6 and "argument --opset: must be at least 17, got 16" in err


def test_ffmpeg_noise_stays_off_the_terminal(tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))  # FFmpeg: "moov atom not found"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "annotate", str(broken), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"hgpose annotate: error: cannot open video {broken} (unsupported or corrupt file)\n"


def test_help_into_a_closed_pipe_ends_quietly() -> None:
    # `hgpose --help | head -1` once printed a traceback: the reading end closed before the write.
    proc = run_into_closed_pipe(["--help"])
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
