"""TrayApp against a live relay, a real private session bus and a fake notification server.

No display here: the app runs without an icon and the tests read what it would show
(``app.view``); the icon itself is tested under Xvfb in ``test_app_icon``.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.errors import AuthenticationError
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.tray.fake_notifications import (
    NO_REPLY_CAPABILITIES,
    FakeNotificationServer,
    NotifyCall,
)
from tray.app import OFFLINE_NOTE, TrayApp
from tray.notifier import MORE_LABEL, REPLY_LABEL
from tray.state import OPEN_TUI, QUIT, TOGGLE_DND
from tray.terminal import TuiLauncher, tui_command

TIMEOUT = 10.0


@pytest.fixture
def terminal(tmp_path: Path) -> Path:
    """An executable standing in for a terminal emulator (found like any program)."""
    path = tmp_path / "fake-term"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def launched() -> list[list[str]]:
    """Command lines the app asked to start, in order."""
    return []


def recording_launcher(relay: LiveRelay, terminal: Path, launched: list[list[str]]) -> TuiLauncher:
    """A TUI launcher that records the commands it would run in ``terminal``."""
    return TuiLauncher(relay.url, spawn=lambda cmd: launched.append(list(cmd)), env={"TERMINAL": str(terminal)})


@asynccontextmanager
async def synced_tray(relay: LiveRelay, **options: Any) -> AsyncIterator[TrayApp]:
    """A started TrayApp holding the owner credential, synced with the live relay; stopped after."""
    async with relay.owner() as client:
        tray = TrayApp(client, **options)
        await tray.start()
        try:
            async with asyncio.timeout(TIMEOUT):
                await tray.synced.wait()
            yield tray
        finally:
            await tray.stop()


@pytest.fixture
async def app(
    relay: LiveRelay, notification_server: FakeNotificationServer, terminal: Path,
    launched: list[list[str]],
) -> AsyncIterator[TrayApp]:
    """A started, synced TrayApp with no icon, following the live relay."""
    async with synced_tray(relay, make_icon=None, launcher=recording_launcher(relay, terminal, launched)) as tray:
        yield tray


@pytest.fixture
async def agent(relay: LiveRelay) -> AsyncIterator[RelayClient]:
    """An agent's client with its own API key, named "claude"."""
    async with await relay.agent("claude") as client:
        yield client


async def notified(server: FakeNotificationServer, body: str) -> NotifyCall:
    """Await the notification whose body is ``body``."""
    return await server.wait_for_notify(lambda call: call.body == body, TIMEOUT)


async def popped_up(app: TrayApp, server: FakeNotificationServer, body: str) -> NotifyCall:
    """Await the notification of the pending request ``body``, until the app has it on screen.

    The server sees ``Notify`` before the app sees its reply; a user cannot click in between,
    a test can, and the app would not know the id the click is for yet.
    """
    call = await notified(server, body)
    notifier = app.notifier
    assert notifier is not None
    request = next(r for r in app.state.pending if r.prompt == body)
    await until(lambda: request.id in notifier.shown, f"{body!r} known to be on screen")
    return call


async def test_a_new_request_pops_up_with_one_button_per_choice_and_counts_in_the_badge(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    call = await notified(notification_server, "Deploy to prod?")
    assert call.summary == "claude"
    assert list(call.buttons.values()) == ["", "Yes", "No"]  # "": the body click (default)
    await until(lambda: app.view.badge == 1, "badge 1")
    assert "1 request waiting" in app.view.tooltip


async def test_pressing_a_choice_button_answers_the_request_on_the_relay(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    created = await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    waiting = asyncio.create_task(agent.wait_for_answer(created.id))
    call = await popped_up(app, notification_server, "Deploy to prod?")
    notification_server.invoke_action(call.id, call.key_for("No"))
    answered = await asyncio.wait_for(waiting, TIMEOUT)
    assert (answered.status, answered.response) == ("answered", "No")
    await until(lambda: app.view.badge == 0, "badge back to 0")


async def test_an_inline_reply_answers_the_request_with_the_typed_text(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    created = await agent.create_request("Which branch?", placeholder_text="branch name")
    waiting = asyncio.create_task(agent.wait_for_answer(created.id))
    call = await popped_up(app, notification_server, "Which branch?")
    assert call.buttons["inline-reply"] == "branch name"
    notification_server.reply(call.id, "release/2.0")
    answered = await asyncio.wait_for(waiting, TIMEOUT)
    assert answered.response == "release/2.0"


async def test_an_answer_from_elsewhere_closes_the_notification_and_clears_the_badge(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer,
    relay: LiveRelay,
) -> None:
    created = await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    call = await notified(notification_server, "Deploy to prod?")
    async with relay.owner() as phone:
        await phone.answer(created.id, "Yes")
    await notification_server.wait_for_close(call.id, TIMEOUT)
    assert call.id not in notification_server.open_ids
    await until(lambda: app.view.badge == 0, "badge back to 0")


async def test_a_cancelled_request_withdraws_its_notification(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    created = await agent.create_request("Still needed?")
    call = await notified(notification_server, "Still needed?")
    await agent.cancel(created.id)
    await notification_server.wait_for_close(call.id, TIMEOUT)
    await until(lambda: app.view.badge == 0, "badge back to 0")


async def test_an_expired_request_withdraws_its_notification(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    await agent.create_request("Quick?", choices=["Yes"], timeout_seconds=0.3)
    call = await popped_up(app, notification_server, "Quick?")
    await notification_server.wait_for_close(call.id, TIMEOUT)
    await until(lambda: app.view.badge == 0, "badge back to 0")


async def test_do_not_disturb_suppresses_notifications_while_the_badge_counts(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    await app.handle_action(TOGGLE_DND)
    assert app.view.dnd and "(do not disturb)" in app.view.tooltip
    await agent.create_request("Quiet one?", choices=["Yes"])
    await agent.create_request("Quiet two?")
    await until(lambda: app.view.badge == 2, "badge 2")
    await agent.notify("Build green")
    await until(lambda: app.state.recent != [], "notification message seen")
    assert notification_server.notifies == []
    await app.handle_action(TOGGLE_DND)
    await agent.create_request("Loud again?")
    await notified(notification_server, "Loud again?")
    assert [call.body for call in notification_server.notifies] == ["Loud again?"]
    assert app.view.badge == 3


async def test_a_notify_message_shows_a_plain_notification_without_counting(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    await agent.notify("Build green")
    call = await notified(notification_server, "Build green")
    assert list(call.buttons) == ["default"] and call.expire_timeout == -1
    assert app.view.badge == 0


async def test_a_completion_can_be_replied_to_from_its_notification(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    created = await agent.create_completion("Refactor done")
    waiting = asyncio.create_task(agent.wait_for_answer(created.id))
    call = await popped_up(app, notification_server, "Refactor done")
    assert call.summary == "claude finished" and "inline-reply" in call.buttons
    notification_server.reply(call.id, "thanks, ship it")
    assert (await asyncio.wait_for(waiting, TIMEOUT)).response == "thanks, ship it"


async def test_the_body_click_and_more_open_the_tui_in_a_terminal(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer,
    terminal: Path, launched: list[list[str]], relay: LiveRelay,
) -> None:
    await agent.create_request("Pick one", choices=["a", "b", "c", "d"])
    await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    more = await popped_up(app, notification_server, "Pick one")
    assert list(more.buttons.values())[1:] == ["a", "b", MORE_LABEL]
    notification_server.invoke_action(more.id, more.key_for(MORE_LABEL))
    body = await popped_up(app, notification_server, "Deploy to prod?")
    notification_server.invoke_action(body.id, "default")
    await until(lambda: len(launched) == 2, "two launches")
    ids = [r.id for r in app.state.pending]
    assert launched == [[str(terminal), "-e", *tui_command(relay.url, request_id=rid)] for rid in ids]
    assert launched[0][-5:] == ["tui", "--url", relay.url, "--request", ids[0]]


@pytest.mark.parametrize("server_capabilities", [NO_REPLY_CAPABILITIES])
async def test_without_inline_reply_the_reply_button_opens_the_tui(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer,
    launched: list[list[str]],
) -> None:
    await agent.create_request("Which branch?")
    call = await popped_up(app, notification_server, "Which branch?")
    assert "inline-reply" not in call.buttons
    notification_server.invoke_action(call.id, call.key_for(REPLY_LABEL))
    await until(lambda: len(launched) == 1, "TUI launched")
    assert launched[0][-4:] == ["--url", app.client.base_url, "--request", app.state.pending[0].id]


async def test_answering_a_request_closed_elsewhere_says_so_in_a_small_notification(
    app: TrayApp, agent: RelayClient, notification_server: FakeNotificationServer,
    relay: LiveRelay,
) -> None:
    created = await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    await notified(notification_server, "Deploy to prod?")
    async with relay.owner() as phone:
        await phone.answer(created.id, "Yes")
    assert await app.answer(created.id, "No") is None
    call = await notification_server.wait_for_notify(
        lambda c: c.summary == "hitl-desk: Not sent", TIMEOUT)
    assert list(call.buttons) == ["default"]
    assert (await agent.get_request(created.id)).response == "Yes"


async def test_without_a_terminal_emulator_the_tui_action_explains_in_a_notification(
    app: TrayApp, notification_server: FakeNotificationServer, relay: LiveRelay
) -> None:
    app.launcher = TuiLauncher(relay.url, env={}, which=lambda name: None)
    await app.handle_action(OPEN_TUI)
    call = await notification_server.wait_for_notify(
        lambda c: c.summary == "hitl-desk: Cannot open the TUI", TIMEOUT)
    assert "$TERMINAL" in call.body


async def test_requests_pending_before_the_tray_started_are_counted_and_shown(
    relay: LiveRelay, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    for n in range(7):
        await agent.create_request(f"older {n}")
    async with relay.owner() as client:
        tray = TrayApp(client, make_icon=None)
        await tray.start()
        try:
            await until(lambda: tray.view.badge == 7, "badge 7")
            await until(lambda: len(notification_server.notifies) == 5, "five pop-ups")
            assert [c.body for c in notification_server.notifies] == [
                f"older {n}" for n in range(2, 7)]  # only the newest few pop up
            assert "older 0" in tray.view.tooltip  # the oldest question leads the tooltip
        finally:
            await tray.stop()


async def test_without_a_notification_server_the_tray_still_counts_and_answers(
    relay: LiveRelay, agent: RelayClient, session_bus: str
) -> None:
    async with relay.owner() as client:
        tray = TrayApp(client, make_icon=None)
        await tray.start()
        try:
            created = await agent.create_request("Deploy?", choices=["Yes"])
            await until(lambda: tray.view.badge == 1, "badge 1")
            await tray.handle_action(("answer", created.id, "Yes"))
            await until(lambda: tray.view.badge == 0, "badge 0")
        finally:
            await tray.stop()
    assert (await agent.get_request(created.id)).response == "Yes"


async def test_quit_ends_run_and_withdraws_what_is_on_screen(
    relay: LiveRelay, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    async with relay.owner() as client:
        tray = TrayApp(client, make_icon=None)
        running = asyncio.create_task(tray.run())
        await agent.create_request("Deploy?", choices=["Yes"])
        call = await popped_up(tray, notification_server, "Deploy?")
        await tray.handle_action(QUIT)
        await asyncio.wait_for(running, TIMEOUT)
    await notification_server.wait_for_close(call.id, TIMEOUT)
    assert tray.failure is None


async def test_a_rejected_credential_ends_run_with_the_reason(
    relay: LiveRelay, notification_server: FakeNotificationServer
) -> None:
    async with RelayClient(relay.url, "not-the-owner-token") as client:
        tray = TrayApp(client, make_icon=None)
        await asyncio.wait_for(tray.run(), TIMEOUT)
    assert isinstance(tray.failure, AuthenticationError)


async def test_the_tooltip_says_when_the_relay_is_not_reachable(
    relay: LiveRelay, notification_server: FakeNotificationServer
) -> None:
    async with RelayClient("http://127.0.0.1:9", relay.owner_token) as client:  # nothing listens
        tray = TrayApp(client, make_icon=None)
        await tray.start()
        try:
            await until(lambda: tray.connection_error is not None, "a failed connection attempt")
            assert OFFLINE_NOTE in tray.view.tooltip and not tray.connected
            assert tray.view.badge == 0
        finally:
            await tray.stop()
