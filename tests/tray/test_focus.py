"""A click in the tray brings the open TUI forward on that request instead of a new terminal.

The real TUI (Textual's pilot) listens on ``HITL_HOME/tui.sock``; the real tray follows the live
relay and gets the click through a real session bus; the window it raises is a real X window on
Xvfb, where the test watches the root window for the ``_NET_ACTIVE_WINDOW`` request.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay

from hitl_desk.client import RelayClient
from hitl_desk.focus import FocusServer, Shown, ShowRequest, ask_to_show, socket_path
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.tray.fake_notifications import FakeNotificationServer
from tests.tray.test_app import (  # noqa: F401  (terminal: a fixture)
    TIMEOUT,
    popped_up,
    recording_launcher,
    synced_tray,
    terminal,
)
from tests.tui.sync import first_sync
from tests.tui.test_tmux import Tmux, poll, tmux  # noqa: F401  (tmux: a fixture)
from tray.app import TrayApp
from tray.state import OPEN_TUI
from tray.terminal import TuiLauncher, tui_command
from tui.app import HitlDeskApp
from tui.focus import GONE
from tui.screens.request import RequestScreen

SIZE = (100, 30)


class RootWatch:
    """An X window standing in for the TUI's terminal, and the activation requests sent for it."""

    def __init__(self, display: str) -> None:
        self.conn = xdisplay.Display(display)
        root = self.conn.screen().root
        root.change_attributes(event_mask=X.SubstructureNotifyMask)
        self.window = root.create_window(0, 0, 10, 10, 0, self.conn.screen().root_depth)
        self.atom = self.conn.intern_atom("_NET_ACTIVE_WINDOW")
        self.conn.sync()
        self.activations = 0

    def activated(self, times: int = 1) -> bool:
        """True once clients asked the window manager ``times`` times to activate our window."""
        while self.conn.pending_events():
            event = self.conn.next_event()
            if (event.type == X.ClientMessage and event.client_type == self.atom
                    and event.window.id == self.window.id):
                self.activations += 1
        return self.activations >= times


@pytest.fixture
def terminal_window(display: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RootWatch]:
    """The TUI's terminal window, named in ``WINDOWID`` as xterm and konsole do."""
    watch = RootWatch(display)
    monkeypatch.setenv("WINDOWID", str(watch.window.id))
    yield watch
    watch.conn.close()


@pytest.fixture
def launched() -> list[list[str]]:
    """Command lines the tray started in a terminal."""
    return []


@pytest.fixture
async def tray(relay: LiveRelay, notification_server: FakeNotificationServer, terminal: Path,
               launched: list[list[str]]) -> AsyncIterator[TrayApp]:
    """The tray of the relay's HITL_HOME, with a launcher that records what it would start."""
    async with synced_tray(relay, make_icon=None, settings=relay.settings,
                           launcher=recording_launcher(relay, terminal, launched)) as app:
        yield app


def tui(relay: LiveRelay, owner: RelayClient, **options: Any) -> HitlDeskApp:
    """The TUI as ``hitl-desk tui`` builds it: listening in the relay's HITL_HOME."""
    return HitlDeskApp(owner, url=relay.url, focus_home=relay.home, **options)


async def test_a_notification_click_opens_the_request_in_the_running_tui_and_raises_its_window(
    relay: LiveRelay, owner: RelayClient, tray: TrayApp, notification_server: FakeNotificationServer,
    terminal_window: RootWatch, launched: list[list[str]],
) -> None:
    desk = tui(relay, owner)
    async with await relay.agent("claude") as agent, desk.run_test(size=SIZE) as pilot:
        await first_sync(desk, pilot)
        await until(lambda: socket_path(relay.home).exists(), what="TUI listening", pilot=pilot)
        await desk.run_action("section('history')")  # the human is elsewhere in the TUI
        created = await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
        call = await popped_up(tray, notification_server, "Deploy to prod?")
        notification_server.invoke_action(call.id, "default")  # a click on the body
        await until(lambda: isinstance(desk.screen, RequestScreen), what="request shown", pilot=pilot)
        assert isinstance(desk.screen, RequestScreen) and desk.screen.request_id == created.id
        assert desk.current_mode == "queue"
        await until(terminal_window.activated, "the TUI's window activated")
        assert await tray.open_request(created.id) is None  # again: nothing stacks up
        await tray.handle_action(OPEN_TUI)
        await until(lambda: terminal_window.activated(3), "the window activated on every click")
        assert len(desk.screen_stack) == 2
    assert launched == []


async def test_without_a_tui_a_click_opens_one_terminal_on_the_request_and_the_next_click_waits_for_it(
    relay: LiveRelay, owner: RelayClient, tray: TrayApp, launched: list[list[str]], terminal: Path,
) -> None:
    async with await relay.agent("claude") as agent:
        created = await agent.create_request("Which branch?")
    await until(lambda: tray.state.get(created.id) is not None, "request known to the tray")
    await tray.open_request(created.id)
    assert launched == [[str(terminal), "-e",
                         *tui_command(relay.url, request_id=created.id)]]
    second = asyncio.create_task(tray.open_request(created.id))  # before the TUI listens
    desk = tui(relay, owner, request_id=created.id)  # what `hitl-desk tui --request ID` runs
    async with desk.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(desk.screen, RequestScreen), what="opened on it", pilot=pilot)
        assert isinstance(desk.screen, RequestScreen) and desk.screen.request_id == created.id
        assert await asyncio.wait_for(second, TIMEOUT) is None
    assert len(launched) == 1


async def test_a_request_no_longer_pending_is_not_opened_and_the_tui_says_so(
    relay: LiveRelay, owner: RelayClient, tray: TrayApp, launched: list[list[str]],
) -> None:
    notes: list[str] = []
    desk = tui(relay, owner)
    async with await relay.agent("claude") as agent, desk.run_test(
            size=SIZE, message_hook=lambda m: notes.append(str(getattr(m, "notification", "")))) as pilot:
        created = await agent.create_request("Gone soon?")
        await agent.cancel(created.id)
        await until(lambda: desk.state.synced and socket_path(relay.home).exists(),
                          what="TUI listening", pilot=pilot)
        shown = await ask_to_show(relay.home, created.id)
        assert shown is not None and not shown.shown
        await until(lambda: any(GONE in note for note in notes), what="the note", pilot=pilot)
        assert not isinstance(desk.screen, RequestScreen)
    assert launched == []


async def answer_shown(ask: ShowRequest) -> Shown:
    """A focus handler that shows everything it is asked to."""
    return Shown(shown=True, window=None)


async def test_a_socket_left_by_a_crashed_tui_is_replaced_and_a_live_one_is_never_taken_over(
    tmp_path: Path,
) -> None:
    home = tmp_path / ("deep-" * 25)  # longer than a socket address can hold
    home.mkdir(mode=0o700)
    path = socket_path(home)
    alias = os.open(home, os.O_RDONLY | os.O_DIRECTORY)  # a short name for the deep directory
    with socket.socket(socket.AF_UNIX) as crashed:
        crashed.bind(f"/proc/self/fd/{alias}/{path.name}")
    os.close(alias)  # the socket is closed and its file stays: nothing accepts on it
    assert path.exists() and await ask_to_show(home, None, timeout=TIMEOUT) is None
    first = asyncio.create_task(FocusServer(home, answer_shown).serve())
    shown = await until(lambda: ask_to_show(home, "r1"), "the new server answering", timeout=TIMEOUT)
    assert shown == Shown(shown=True, window=None)
    assert path.stat().st_mode & 0o777 == 0o600
    second = FocusServer(home, answer_shown)
    await asyncio.wait_for(second.serve(), TIMEOUT)  # returns at once: the first one serves
    assert await ask_to_show(home, "r2") is not None
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert not path.exists()



@pytest.mark.slow
async def test_the_tray_opens_hitl_desk_tui_on_the_request_in_a_real_terminal_and_then_reuses_it(
    relay: LiveRelay, tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    launches = tmp_path / "launches"
    term = tmp_path / "tmux-term"  # a terminal emulator that opens a tmux session
    term.write_text(
        f"#!{sys.executable}\n"
        "import shlex, subprocess, sys\n"
        f"open({str(launches)!r}, 'a').write('launched\\n')\n"
        "command = shlex.join(['env', 'TERM=xterm-256color', *sys.argv[2:]])  # argv[1]: -e\n"
        f"subprocess.run(['tmux', '-L', {tmux.socket!r}, 'new-session', '-d', '-s', 'desk',\n"
        "                '-x', '100', '-y', '30', command], check=True)\n")
    term.chmod(0o755)
    monkeypatch.setenv("HITL_HOME", str(relay.home))  # the terminal's TUI inherits it
    launcher = TuiLauncher(relay.url, env={"TERMINAL": str(term)})
    async with await relay.agent("claude") as agent, synced_tray(
            relay, make_icon=None, notifications=False, settings=relay.settings,
            launcher=launcher) as tray:
        created = await agent.create_request("Ship release 2.1 now?", choices=["Ship it", "Hold"])
        await until(lambda: tray.state.get(created.id) is not None, "request known to the tray")
        assert await tray.open_request(created.id) is not None  # no TUI yet: a terminal opens
        await asyncio.to_thread(poll, lambda: "2 Hold" in tmux.screen("desk"), "the request screen")
        await until(lambda: socket_path(relay.home).exists(), "the TUI listening")
        assert await tray.open_request(created.id) is None  # the running TUI shows it
        await tray.handle_action(OPEN_TUI)
        assert launches.read_text() == "launched\n"
        tmux.run("send-keys", "-t", "desk", "Escape")
        await asyncio.to_thread(poll, lambda: "2 Hold" not in tmux.screen("desk"), "back to the queue")
        assert await tray.open_request(created.id) is None
        await asyncio.to_thread(poll, lambda: "2 Hold" in tmux.screen("desk"), "shown again")
        tmux.run("send-keys", "-t", "desk", "C-q")
        await asyncio.to_thread(poll, lambda: not tmux.alive("desk"), "the TUI to quit")
    assert not socket_path(relay.home).exists()
