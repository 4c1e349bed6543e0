"""``hitl-desk tray --autostart on|off``: the XDG entry, checked by real desktop tools."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from hitl_desk.cli import main
from tests.deadline import until_blocking
from tray import autostart
from tray.terminal import hitl_desk_command

TIMEOUT = 10.0


def require(tool: str, package: str) -> str:
    """Return the path of ``tool``; skip without it (in CI, fail: the package must be there)."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian package {package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``XDG_CONFIG_HOME``."""
    path = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path))
    return path


def test_autostart_on_writes_an_entry_that_desktop_file_validate_accepts(
    config_home: Path,
) -> None:
    validate = require("desktop-file-validate", "desktop-file-utils")
    path = autostart.enable(autostart.tray_command("http://127.0.0.1:8765"))
    assert path == config_home / "autostart" / "hitl-desk-tray.desktop"
    result = subprocess.run([validate, str(path)], capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""  # no warnings or hints either
    text = path.read_text()
    assert "Type=Application\n" in text and "Terminal=false\n" in text


def test_the_entry_runs_its_command_with_every_argument_intact(tmp_path: Path) -> None:
    gio = require("gio", "libglib2.0-bin")
    out = tmp_path / "argv.txt"
    recorder = tmp_path / "dir with space" / "record"
    recorder.parent.mkdir()
    recorder.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "{out}.part"\n'
                        f'mv "{out}.part" "{out}"\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    args = ["tray", "--url", "http://127.0.0.1:8765/x?a=1&b=2", 'say "hi"', "$HOME", "100%",
            "back\\slash", "`tick`", "~user", "semi;colon", "tab\there"]
    entry = tmp_path / "hitl-desk-tray.desktop"
    entry.write_text(autostart.desktop_entry([str(recorder), *args]))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    subprocess.run([gio, "launch", str(entry)], env=env, check=True, timeout=TIMEOUT)
    until_blocking(out.exists, what="the launched command's output", timeout=TIMEOUT)
    assert out.read_text().splitlines() == args


def test_tray_command_keeps_the_relay_url_and_hitl_home() -> None:
    command = autostart.tray_command("http://127.0.0.1:9000", env={"HITL_HOME": "/srv/hitl"})
    assert command == ["env", "HITL_HOME=/srv/hitl", *hitl_desk_command(), "tray",
                       "--url", "http://127.0.0.1:9000"]
    assert autostart.tray_command(None, env={}) == [*hitl_desk_command(), "tray"]
    from_env = autostart.tray_command(None, env={"HITL_SERVER_URL": "http://127.0.0.1:9001"})
    assert from_env[:2] == ["env", "HITL_SERVER_URL=http://127.0.0.1:9001"]


def test_without_xdg_config_home_the_entry_goes_under_dot_config(tmp_path: Path) -> None:
    for env in ({}, {"XDG_CONFIG_HOME": ""}, {"XDG_CONFIG_HOME": "relative/dir"}):
        path = autostart.entry_path(env=env, home=tmp_path, platform="linux")
        assert path == tmp_path / ".config" / "autostart" / "hitl-desk-tray.desktop"


def test_autostart_off_removes_the_entry_and_a_second_off_finds_nothing(
    config_home: Path,
) -> None:
    path = autostart.enable(["hitl-desk", "tray"])
    assert autostart.disable() == path
    assert not path.exists()
    assert autostart.disable() is None


def test_macos_gets_a_launch_agent_that_runs_the_tray_at_login(tmp_path: Path) -> None:
    path = autostart.enable(["/usr/local/bin/hitl-desk", "tray"], home=tmp_path,
                            platform="darwin")
    assert path == tmp_path / "Library" / "LaunchAgents" / "dev.hitl-desk.tray.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["ProgramArguments"] == ["/usr/local/bin/hitl-desk", "tray"]
    assert agent["RunAtLoad"] is True and agent["Label"] == "dev.hitl-desk.tray"
    assert autostart.disable(home=tmp_path, platform="darwin") == path


def test_windows_says_autostart_is_not_supported_yet(tmp_path: Path) -> None:
    with pytest.raises(autostart.AutostartUnsupportedError, match="not supported on Windows"):
        autostart.enable(["hitl-desk", "tray"], home=tmp_path, platform="win32")


def test_the_cli_switches_autostart_on_and_off(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_home / "autostart" / "hitl-desk-tray.desktop"
    assert main(["tray", "--autostart", "on", "--url", "http://127.0.0.1:8999"]) == 0
    assert str(path) in capsys.readouterr().out
    exec_line = next(line for line in path.read_text().splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" tray --url http://127.0.0.1:8999")
    assert main(["tray", "--autostart", "off"]) == 0
    assert not path.exists()
    assert main(["tray", "--autostart", "off"]) == 0
    assert "no autostart entry" in capsys.readouterr().out
