"""Codex's ``notify`` program in ``config.toml``: added, found and removed as one line of ours.

The standard library reads TOML but does not write it, and a user's config.toml carries
comments worth keeping, so the file is edited as text: our line goes first (top-level keys must
come before any table), marked with a comment, and every edit is checked by parsing the result.
A ``notify`` the user set already is never replaced.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

from hitl_desk.backup import save_text
from hitl_desk.errors import HookSettingsError

MARK = "# hitl-desk: tell the human when a turn completes"
_OURS = re.compile(r"^notify\s*=.*hitl-desk.*\bhook\b.*\bcodex\b.*\bnotify\b.*$", re.MULTILINE)


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    _parse(path, text)
    return text


def _parse(path: Path, text: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HookSettingsError(f"{path} is not valid TOML ({exc}); it was left unchanged.") from None


def installed(path: Path) -> bool:
    """Whether our notify line is in the file."""
    return _OURS.search(_read(path)) is not None


def install(path: Path, command: str) -> bool:
    """Add ``notify = [our command]`` unless a notify is set; whether the file changed."""
    text = _read(path)
    if _OURS.search(text):
        text = _strip(text)
    elif "notify" in _parse(path, text):
        print(f"Codex already runs a notify program ({path}); left as it is.", file=sys.stderr)
        return False
    line = f"notify = {json.dumps(shlex.split(command))}"
    new = f"{MARK}\n{line}\n{text}"
    _parse(path, new)
    if new == _read(path):
        return False
    save_text(path, new)
    return True


def _strip(text: str) -> str:
    text = _OURS.sub("", text, count=1)
    return text.replace(f"{MARK}\n\n", "", 1).replace(f"{MARK}\n", "", 1).lstrip("\n") if MARK in text else text


def uninstall(path: Path) -> bool:
    """Remove our notify line; whether there was one."""
    text = _read(path)
    if not _OURS.search(text):
        return False
    new = _strip(text)
    _parse(path, new)
    save_text(path, new)
    return True
