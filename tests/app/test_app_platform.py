"""The window on a real desktop: Qt's X11 plugin, its system libraries, and OpenCV's Qt variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from PyQt6.QtCore import QLibraryInfo

from app import qt_support
from app.cli import main

REPO = Path(__file__).resolve().parents[2]
XCB_PLUGIN = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"


def test_debian_package_names() -> None:
    assert qt_support.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert qt_support.debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert qt_support.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qt_support.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert qt_support.debian_package("libX11-xcb.so.1") == "libx11-xcb1"


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_missing_libraries_names_what_the_loader_cannot_find(tmp_path: Path) -> None:
    (tmp_path / "dep.c").write_text("int hgpose_dep(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int hgpose_dep(void);\nint plugin(void) { return hgpose_dep(); }\n")
    dep = tmp_path / "libhgposedep.so.7"
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libhgposedep.so.7", "-o", str(dep),
                    str(tmp_path / "dep.c")], check=True)
    plugin = tmp_path / "libplugin.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"), str(dep)], check=True)
    dep.unlink()  # as on a machine where the package is not installed
    assert qt_support.missing_libraries(plugin) == ["libhgposedep.so.7"]


def test_opencv_qt_variables_do_not_reach_pyqt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opencv_plugins = Path(cv2.__file__).parent / "qt" / "plugins"
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", str(opencv_plugins))
    monkeypatch.setenv("QT_QPA_FONTDIR", str(tmp_path))  # the user's own choice: kept
    qt_support.forget_opencv_qt_paths()
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ
    assert os.environ["QT_QPA_FONTDIR"] == str(tmp_path)


def test_which_platform_is_x11() -> None:
    on_linux = sys.platform.startswith("linux")
    assert qt_support.uses_xcb({"DISPLAY": ":0"}) == on_linux
    assert not qt_support.uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert not qt_support.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert qt_support.uses_xcb({"QT_QPA_PLATFORM": "xcb"})


def test_a_plugin_that_cannot_load_is_one_line_not_an_abort(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(qt_support, "missing_libraries", lambda plugin: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    monkeypatch.setattr(qt_support, "uses_xcb", lambda: True)
    assert main(["--max-frames", "3"]) == 6
    err = capsys.readouterr().err
    assert err == ("hgpose app: error: Qt cannot open a window: its X11 plugin needs libxcb-icccm.so.4, "
                   "libxcb-keysyms.so.1, which are not installed (Debian/Ubuntu: sudo apt-get install "
                   "libxcb-icccm4 libxcb-keysyms1; see the README's Desktop app section)\n")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="Xvfb is not installed (apt-get install xvfb)")
def test_the_window_opens_under_a_real_x_server(tmp_path: Path) -> None:
    missing = qt_support.missing_libraries(XCB_PLUGIN)
    if missing:
        pytest.skip(f"Qt's X11 plugin lacks {', '.join(missing)} here (see the README's Desktop app section)")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY")}
    env["PYTHONPATH"] = str(REPO)  # this checkout's app, whatever is installed
    proc = subprocess.run(["xvfb-run", "-a", sys.executable, "-m", "app", "--max-frames", "5"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "hgpose app: 5 frames processed" in proc.stdout
