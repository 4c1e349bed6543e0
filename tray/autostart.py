"""Start the tray at login: an XDG autostart entry on Linux, a LaunchAgent on macOS.

Windows is not supported yet: ``enable`` and ``disable`` raise ``AutostartUnsupportedError``.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tray.terminal import Which, hitl_desk_command

DESKTOP_FILE = "hitl-desk-tray.desktop"
LAUNCH_AGENT_LABEL = "dev.hitl-desk.tray"
CARRIED_ENV = ("HITL_HOME", "HITL_SERVER_URL")
"""Environment the tray needs at login as it has it now: the credential's home, the relay."""

_RESERVED = set(" \t\n\"'\\><~|&;$*?#`()")
"""Characters that force quoting of an Exec argument (Desktop Entry spec, "The Exec key")."""


class AutostartUnsupportedError(RuntimeError):
    """This platform has no autostart mechanism hitl-desk knows how to use yet."""


def tray_command(
    url: str | None, *, env: Mapping[str, str] | None = None, which: Which = shutil.which
) -> list[str]:
    """Return the command line that starts the tray as now (same relay, same ``HITL_HOME``)."""
    env = os.environ if env is None else env
    carried = [f"{name}={env[name]}" for name in CARRIED_ENV if env.get(name)]
    prefix = ["env", *carried] if carried else []
    command = [*prefix, *hitl_desk_command(which), "tray"]
    return command + ["--url", url] if url else command


def exec_argument(arg: str) -> str:
    """Quote one argument for a Desktop Entry ``Exec`` key (string escapes included)."""
    if arg and not _RESERVED.intersection(arg):
        quoted = arg
    else:
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        quoted = f'"{escaped}"'
    # The string escape rule applies on top of the quoting: every backslash is doubled again.
    string = quoted.replace("\\", "\\\\").replace("%", "%%")
    return string.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def desktop_entry(command: Sequence[str]) -> str:
    """Return the text of the XDG autostart entry that runs ``command``."""
    exec_line = " ".join(exec_argument(arg) for arg in command)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.0\n"
        "Name=hitl-desk tray\n"
        "Comment=Answer AI agents' questions from the system tray\n"
        f"Exec={exec_line}\n"
        "Icon=dialog-question\n"
        "Terminal=false\n"
        "Categories=Utility;\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def launch_agent(command: Sequence[str]) -> bytes:
    """Return the property list of the macOS LaunchAgent that runs ``command`` at login."""
    agent = {"Label": LAUNCH_AGENT_LABEL, "ProgramArguments": list(command),
             "RunAtLoad": True, "ProcessType": "Interactive"}
    return plistlib.dumps(agent)


def entry_path(
    *, env: Mapping[str, str] | None = None, home: Path | None = None,
    platform: str = sys.platform,
) -> Path:
    """Return where the autostart entry lives on ``platform``."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if platform == "darwin":
        return home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
    if platform == "win32":
        raise AutostartUnsupportedError(
            "Autostart is not supported on Windows yet: put a shortcut to `hitl-desk tray` "
            "in the Startup folder (Win+R, shell:startup)."
        )
    config = env.get("XDG_CONFIG_HOME") or ""
    base = Path(config) if os.path.isabs(config) else home / ".config"  # the spec ignores relative
    return base / "autostart" / DESKTOP_FILE


def enable(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, home: Path | None = None,
    platform: str = sys.platform,
) -> Path:
    """Install the autostart entry for ``command``; return its path."""
    path = entry_path(env=env, home=home, platform=platform)
    path.parent.mkdir(parents=True, exist_ok=True)
    if platform == "darwin":
        path.write_bytes(launch_agent(command))
    else:
        path.write_text(desktop_entry(command), encoding="utf-8")
    return path


def disable(
    *, env: Mapping[str, str] | None = None, home: Path | None = None,
    platform: str = sys.platform,
) -> Path | None:
    """Remove the autostart entry; return the path removed (None if there was none)."""
    path = entry_path(env=env, home=home, platform=platform)
    if not path.exists():
        return None
    path.unlink()
    return path
