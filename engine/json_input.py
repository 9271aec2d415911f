"""Reading a user's JSON input file with one clear error for each way it can be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import InputError


def read_json(path: Path, what: str) -> Any:
    """The JSON value in ``path``; InputError (naming the file as ``what``) when it is missing,
    unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: not valid JSON ({exc})") from None


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """Like :func:`read_json`, and an InputError when the value is not an object."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a {what} (not a JSON object)")
    return data
