"""One ``hitl-desk tray`` per HITL_HOME, as a user starts them: real processes, Xvfb, a tray host."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests import desktop
from tests.conftest import LiveRelay
from tray.instance import LOCK_FILE, InstanceLock, TrayAlreadyRunningError

TIMEOUT = 15.0
STARTED = "hitl-desk tray: watching the relay at "


@asynccontextmanager
async def tray_process(env: dict[str, str], url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``hitl-desk tray`` running with ``env``; killed afterwards if the test left it running."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "tray", "--url", url, "--no-notifications",
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def started(proc: asyncio.subprocess.Process) -> str:
    """Read stderr up to the start line; return it."""
    assert proc.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            line = (await proc.stderr.readline()).decode()
            assert line, f"the tray exited ({await proc.wait()}) before it said it started: {seen}"
            seen.append(line)
            if line.startswith(STARTED):
                return line


@pytest.fixture
def tray_env(relay: LiveRelay, display: str, tray_host: desktop.TrayHost, session_bus: str) -> dict[str, str]:
    """The environment of a tray for the live relay on the test display."""
    return dict(os.environ, HITL_HOME=str(relay.home), DISPLAY=display, PYSTRAY_BACKEND="xorg",
                DBUS_SESSION_BUS_ADDRESS=session_bus)


async def test_tray_prints_one_start_line_saying_what_it_watches_and_how_to_quit(
    relay: LiveRelay, tray_env: dict[str, str]
) -> None:
    async with tray_process(tray_env, relay.url) as proc:
        line = await started(proc)
        assert line == (f"{STARTED}{relay.url} for {relay.home} (pid {proc.pid}); "
                        "quit from the icon's menu, or with Ctrl+C here\n")
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(TIMEOUT):
            _, rest = await proc.communicate()
    assert proc.returncode == 0 and rest.decode() == ""  # one line, and nothing on a clean quit


@pytest.mark.slow
async def test_a_second_tray_says_one_is_running_and_exits_0_while_the_first_keeps_running(
    relay: LiveRelay, tray_env: dict[str, str]
) -> None:
    async with tray_process(tray_env, relay.url) as first:
        await started(first)
        async with tray_process(tray_env, relay.url) as second, asyncio.timeout(TIMEOUT):
            _, err = await second.communicate()
        assert second.returncode == 0
        assert err.decode() == (f"hitl-desk: a tray is already running for {relay.home} "
                                f"(pid {first.pid}); not starting another\n")
        assert first.returncode is None
        first.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT):
            await first.wait()
        assert first.returncode == 0


@pytest.mark.slow
async def test_a_lock_file_left_by_a_killed_tray_does_not_stop_the_next_one(
    relay: LiveRelay, tray_env: dict[str, str]
) -> None:
    async with tray_process(tray_env, relay.url) as crashed:
        await started(crashed)
        crashed.kill()  # SIGKILL: no clean-up ran, the file stays with its pid in it
        await crashed.wait()
    assert (relay.home / LOCK_FILE).read_text() == f"{crashed.pid}\n"
    async with tray_process(tray_env, relay.url) as next_tray:
        assert f"(pid {next_tray.pid})" in await started(next_tray)
        assert (relay.home / LOCK_FILE).read_text() == f"{next_tray.pid}\n"
        next_tray.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT):
            await next_tray.wait()


def test_the_lock_is_released_on_exit_and_is_private(tmp_path: Path) -> None:
    with InstanceLock(tmp_path):
        with pytest.raises(TrayAlreadyRunningError):
            InstanceLock(tmp_path).acquire()  # another descriptor counts as another tray
    with InstanceLock(tmp_path):
        assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o600
