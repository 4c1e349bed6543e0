"""The tray survives the relay going away and coming back: badge and notifications stay right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay, start_relay
from tests.deadline import until
from tests.tray.fake_notifications import FakeNotificationServer
from tests.tray.test_app import TIMEOUT, agent, notified, popped_up, synced_tray
from tray.app import OFFLINE_NOTE, TrayApp

__all__ = ["agent"]  # a fixture used here

RETRY_MAX = 0.2
"""Reconnect back-off cap: the default (2 s) would only slow the tests down."""


@pytest.fixture
async def app(
    relay: LiveRelay, notification_server: FakeNotificationServer
) -> AsyncIterator[TrayApp]:
    """A started, synced TrayApp with no icon that reconnects quickly after a drop."""
    async with synced_tray(relay, make_icon=None, retry_max=RETRY_MAX) as tray:
        yield tray


async def restart(relay: LiveRelay, app: TrayApp) -> None:
    """Stop the relay, see the tray notice, start it again on the same home and port."""
    port = relay.running.port
    await relay.running.stop()
    await until(lambda: not app.connected, "tray sees the relay gone")
    assert OFFLINE_NOTE in app.view.tooltip
    relay.running = await start_relay(relay.home, port)


def pending_prompts(app: TrayApp) -> list[str]:
    """The prompts the tray counts, oldest first."""
    return [r.prompt for r in app.state.pending]


async def test_after_a_relay_restart_the_badge_counts_what_changed_meanwhile(
    app: TrayApp, agent: RelayClient, relay: LiveRelay,
    notification_server: FakeNotificationServer,
) -> None:
    first = await agent.create_request("Before the restart?", choices=["Yes", "No"])
    old = await popped_up(app, notification_server, "Before the restart?")
    gone = await agent.create_request("Cancelled while away?")
    await until(lambda: app.view.badge == 2, "badge 2")
    await restart(relay, app)
    assert app.view.badge == 2  # the count stays while the relay is away
    async with relay.owner() as phone:
        await phone.answer(first.id, "Yes")
        await phone.cancel(gone.id)
    await agent.create_request("After the restart?", choices=["Ok"])
    await until(lambda: pending_prompts(app) == ["After the restart?"], "only the new request")
    await until(lambda: app.view.badge == 1 and app.connected, "badge 1, connected")
    assert OFFLINE_NOTE not in app.view.tooltip
    await notification_server.wait_for_close(old.id, TIMEOUT)
    await notified(notification_server, "After the restart?")


async def test_buttons_answer_again_once_the_relay_is_back(
    app: TrayApp, agent: RelayClient, relay: LiveRelay,
    notification_server: FakeNotificationServer,
) -> None:
    await restart(relay, app)
    async with asyncio.timeout(TIMEOUT):
        await app.synced.wait()
    created = await agent.create_request("Ship it?", choices=["Ship", "Wait"])
    waiting = asyncio.create_task(agent.wait_for_answer(created.id))
    call = await popped_up(app, notification_server, "Ship it?")
    notification_server.invoke_action(call.id, call.key_for("Ship"))
    assert (await asyncio.wait_for(waiting, TIMEOUT)).response == "Ship"
    await until(lambda: app.view.badge == 0, "badge 0")


async def test_requests_made_while_the_tray_could_not_connect_are_counted_once_it_does(
    relay: LiveRelay, agent: RelayClient, notification_server: FakeNotificationServer
) -> None:
    port = relay.running.port
    await relay.running.stop()
    async with relay.owner() as client:
        tray = TrayApp(client, make_icon=None, retry_max=RETRY_MAX)
        await tray.start()
        try:
            await until(lambda: tray.connection_error is not None, "a failed connection attempt")
            assert OFFLINE_NOTE in tray.view.tooltip and tray.view.badge == 0
            relay.running = await start_relay(relay.home, port)
            for n in range(3):
                await agent.create_request(f"queued {n}")
            await until(lambda: tray.view.badge == 3, "badge 3")
            await until(lambda: len(notification_server.notifies) == 3, "three pop-ups")
        finally:
            await tray.stop()
