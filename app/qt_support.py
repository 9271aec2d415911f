"""Qt process-level settings shared by the app and its tests, and the checks before a window opens."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from PyQt6.QtCore import QLibraryInfo, QMessageLogContext, QtMsgType, qInstallMessageHandler

from engine.errors import ConfigError

# The offscreen platform prints this on every layout change; it says nothing about the app.
_NOISE = ("This plugin does not support propagateSizeHints()",)
# What OpenCV's wheel sets on import for its own (Qt 5) highgui plugins.
_OPENCV_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
README_HINT = "see the README's Desktop app section"


def _handler(kind: QtMsgType, context: QMessageLogContext, message: str | None) -> None:
    if message and not message.startswith(_NOISE):
        print(message, file=sys.stderr)


def quiet_platform_noise() -> None:
    """Drop known-harmless platform messages; everything else still reaches stderr."""
    qInstallMessageHandler(_handler)


def forget_opencv_qt_paths() -> None:
    """Undo what ``import cv2`` does to Qt's environment, before a QApplication exists.

    opencv-python points ``QT_QPA_PLATFORM_PLUGIN_PATH`` at its bundled Qt 5 plugins; PyQt6 (Qt 6)
    then tries those first, and when its own xcb plugin cannot load either, its message names
    OpenCV's folder. Values the user set (anywhere outside the cv2 package) are kept.
    """
    import cv2  # imported first, so a later import cannot set them again

    opencv_dir = Path(cv2.__file__).resolve().parent
    for name in _OPENCV_QT_VARIABLES:
        value = os.environ.get(name)
        if value and Path(value).resolve().is_relative_to(opencv_dir):
            del os.environ[name]


def uses_xcb(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether Qt will open its windows through X11 (the xcb plugin) in this environment."""
    platform = environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    return sys.platform.startswith("linux") and bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships a library, by Debian's naming rule:
    ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``, ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``."""
    match = re.fullmatch(r"(.+)\.so\.(\d+)(\..*)?", soname)
    if match is None:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}{'-' if name[-1].isdigit() else ''}{version}"


def missing_libraries(library: Path) -> list[str]:
    """The shared libraries ``library`` needs that the dynamic loader cannot find (sonames)."""
    ldd = shutil.which("ldd")
    if ldd is not None:
        out = subprocess.run([ldd, str(library)], capture_output=True, text=True, check=False).stdout
        return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "=> not found" in line})
    try:  # no ldd: the loader's own first complaint
        ctypes.CDLL(str(library))
    except OSError as exc:
        found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(exc))
        return [found.group(1)] if found else [str(exc)]
    return []


def _x_server_reachable() -> bool:
    name = ctypes.util.find_library("xcb")
    if name is None:
        return True  # cannot tell; Qt will say
    xcb = ctypes.CDLL(name)
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(None, None)
    failed = bool(xcb.xcb_connection_has_error(connection))
    xcb.xcb_disconnect(connection)
    return not failed


def check_window_platform() -> None:
    """``ConfigError`` naming what is missing when Qt could not open a window here.

    Qt aborts the whole process (SIGABRT, no Python exception) when its platform plugin does not
    load; this finds the usual reasons first: the X11 (xcb) plugin's system libraries, which a
    stock desktop may lack, or an X server that does not answer.
    """
    if not uses_xcb():
        return
    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        raise ConfigError(f"Qt cannot open a window: PyQt6 has no X11 platform plugin ({plugin}); reinstall PyQt6")
    missing = missing_libraries(plugin)
    if missing:
        packages = " ".join(debian_package(m) for m in missing)
        raise ConfigError(f"Qt cannot open a window: its X11 plugin needs {', '.join(missing)}, which are not "
                          f"installed (Debian/Ubuntu: sudo apt-get install {packages}; {README_HINT})")
    if not _x_server_reachable():
        raise ConfigError(f"Qt cannot open a window: no X server answers on DISPLAY={os.environ.get('DISPLAY')} "
                          "(for a headless run use --max-frames N and QT_QPA_PLATFORM=offscreen)")
