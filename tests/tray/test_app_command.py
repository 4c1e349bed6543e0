"""``hitl-desk tray`` as a user runs it, and how the TUI gets its terminal window."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import sys
from pathlib import Path

import pytest

from hitl_desk.cli import main
from tests import desktop
from tests.conftest import LiveRelay
from tests.deadline import until_blocking
from tests.tray.fake_notifications import FakeNotificationServer
from tests.tray.test_icon import icon_window
from tray.terminal import (
    NoTerminalError,
    TuiLauncher,
    Which,
    in_terminal,
    spawn_detached,
    tui_command,
)

TIMEOUT = 10.0
TUI = ["hitl-desk", "tui"]


def programs(tmp_path: Path, *names: str) -> Path:
    """A directory of executables with these names, to serve as the whole ``PATH``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def finder(bin_dir: Path) -> Which:
    """``shutil.which`` restricted to ``bin_dir``."""
    return lambda name: shutil.which(name, path=str(bin_dir))


def test_terminal_from_the_environment_comes_first_with_its_own_arguments(tmp_path: Path) -> None:
    bin_dir = programs(tmp_path, "kitty", "xterm")
    which = finder(bin_dir)
    command = in_terminal(TUI, env={"TERMINAL": "kitty --single-instance"}, which=which)
    assert command == ["kitty", "--single-instance", *TUI]


def test_without_terminal_set_debians_choice_then_known_terminals_are_tried(
    tmp_path: Path,
) -> None:
    bin_dir = programs(tmp_path, "gnome-terminal", "xterm")
    which = finder(bin_dir)
    assert in_terminal(TUI, env={"TERMINAL": "missing"}, which=which) == [
        "gnome-terminal", "--", *TUI]
    programs(tmp_path, "x-terminal-emulator")
    assert in_terminal(TUI, env={}, which=which) == ["x-terminal-emulator", "-e", *TUI]


def test_with_no_terminal_at_all_the_launcher_says_what_to_do(tmp_path: Path) -> None:
    launcher = TuiLauncher("http://127.0.0.1:1", env={}, which=finder(programs(tmp_path)),
                           spawn=lambda command: None)
    with pytest.raises(NoTerminalError, match=r"\$TERMINAL"):
        launcher.launch()


def test_macos_and_windows_open_their_own_terminal() -> None:
    mac = in_terminal(["hitl-desk", "tui", "--url", 'http://h/"q"'], platform="darwin")
    assert mac[:2] == ["osascript", "-e"]
    assert 'do script "hitl-desk tui --url \'http://h/\\"q\\"\'"' in mac[2]
    assert in_terminal(TUI, platform="win32") == ["cmd.exe", "/c", "start", "hitl-desk TUI", *TUI]


def test_spawn_detached_really_starts_the_terminal(tmp_path: Path) -> None:
    out = tmp_path / "argv.txt"
    term = tmp_path / "term"
    term.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{out}.part"\nmv "{out}.part" "{out}"\n')
    term.chmod(term.stat().st_mode | stat.S_IXUSR)
    launcher = TuiLauncher("http://127.0.0.1:8765", env={"TERMINAL": str(term)},
                           spawn=spawn_detached)
    command = launcher.launch()
    until_blocking(out.exists, what="terminal started", timeout=TIMEOUT)
    assert out.read_text().splitlines() == ["-e", *tui_command("http://127.0.0.1:8765")]
    assert command[0] == str(term)


def test_tray_without_a_display_exits_1_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["tray"]) == 1
    assert "no graphical session" in capsys.readouterr().err


def test_tray_without_the_owner_credential_exits_6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISPLAY", ":0")  # never opened: the credential is checked first
    monkeypatch.setenv("HITL_HOME", str(tmp_path / "empty"))
    assert main(["tray"]) == 6
    assert "No owner credential" in capsys.readouterr().err


async def test_hitl_desk_tray_docks_notifies_and_stops_cleanly_on_sigterm(
    relay: LiveRelay, display: str, tray_host: desktop.TrayHost, session_bus: str,
    notification_server: FakeNotificationServer,
) -> None:
    env = dict(os.environ, HITL_HOME=str(relay.home), DISPLAY=display,
               PYSTRAY_BACKEND="xorg", DBUS_SESSION_BUS_ADDRESS=session_bus)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "tray", "--url", relay.url, env=env,
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        def named(name: str) -> bool:
            window = icon_window(display)
            return bool(window and window.viewable and window.name == name)

        await asyncio.to_thread(until_blocking, lambda: named("hitl-desk: nothing waiting"),
                                what="tray icon synced", timeout=TIMEOUT)
        async with await relay.agent("claude") as agent:
            await agent.create_request("From the CLI tray?", choices=["Yes"])
        call = await notification_server.wait_for_notify(
            lambda c: c.body == "From the CLI tray?", TIMEOUT)
        await asyncio.to_thread(
            until_blocking,
            lambda: named("hitl-desk: 1 request waiting\nclaude: From the CLI tray?"),
            what="badge 1", timeout=TIMEOUT)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT):
            _, stderr = await proc.communicate()
        assert proc.returncode == 0, stderr.decode()
        assert "Traceback" not in stderr.decode()
        await notification_server.wait_for_close(call.id, TIMEOUT)
        assert icon_window(display) is None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
