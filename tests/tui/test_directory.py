"""Keys and the feed through the UI, against a live relay."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Select

from hitl_desk.client import RelayClient
from hitl_desk.errors import AuthenticationError
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.tui.sync import first_sync
from tui.app import HitlDeskApp
from tui.screens.history import HistoryScreen
from tui.screens.keys import KeysScreen
from tui.screens.modals import AskModal, ConfirmModal, KeyCreatedModal
from tui.screens.request import RequestScreen

SIZE = (100, 30)


async def test_key_made_in_the_ui_is_shown_once_copies_works_and_revoking_refuses_it(
        relay: LiveRelay, owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        await pilot.press("k")
        assert isinstance(app.screen, KeysScreen)
        await pilot.press("c")
        assert isinstance(app.screen, AskModal)
        await pilot.press(*"robot", "tab", *"ci", "enter")
        await until(lambda: isinstance(app.screen, KeyCreatedModal), what="the new key", pilot=pilot)
        modal = app.screen
        assert isinstance(modal, KeyCreatedModal)
        secret = modal.key.api_key
        await pilot.press("c")
        assert app.clipboard == secret
        async with RelayClient(relay.url, secret) as robot:
            asked = await robot.create_request("Does my key work?")
            assert asked.agent_name == "robot"
        await pilot.press("escape")
        assert isinstance(app.screen, KeysScreen)
        await until(lambda: any(k.prefix == modal.key.prefix for k in app.state.keys), what="key listed", pilot=pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await until(lambda: any(k.prefix == modal.key.prefix and k.revoked_at for k in app.state.keys),
                    what="key revoked", pilot=pilot)
        async with RelayClient(relay.url, secret) as robot:
            with pytest.raises(AuthenticationError):
                await robot.create_request("Still let in?")


async def test_feed_counts_unread_and_a_completion_gets_the_typed_reply(relay: LiveRelay,
                                                                      owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("n8n-nightly") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        await agent.notify("Backup uploaded: 2.3 GB.")
        report = await agent.create_completion("Import finished; 3 files skipped. Anything to do?")
        waiter = asyncio.create_task(agent.wait_for_answer(report.id))
        await until(lambda: app.state.unread == 2, what="two unread", pilot=pilot)
        await pilot.press("n")
        assert app.state.unread == 0
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen) and app.screen.request_id == report.id
        await pilot.press(*"re-run tomorrow", "enter")
        done = await asyncio.wait_for(waiter, 10)
        assert (done.status, done.response) == ("answered", "re-run tomorrow")
        await until(lambda: app.state.feed[0].status == "answered", what="feed shows the reply", pilot=pilot)


async def test_history_lists_closed_requests_and_filters_by_agent_status_and_text(
        relay: LiveRelay, owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with (await relay.agent("claude-code") as claude, await relay.agent("cursor") as cursor,
                app.run_test(size=SIZE) as pilot):
        await first_sync(app, pilot)
        shipped = await claude.create_request("Ship the release?")
        dropped = await cursor.create_request("Drop the stale branches?")
        await owner.answer(shipped.id, "ship it")
        await owner.cancel(dropped.id)
        await pilot.press("h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(lambda: len(screen.rows) == 2, what="both closed requests", pilot=pilot)
        screen.query_one("#history-status", Select).value = "cancelled"
        await until(lambda: [r.id for r in screen.rows] == [dropped.id], what="status filter", pilot=pilot)
        screen.query_one("#history-status", Select).clear()
        screen.query_one("#history-agent", Select).value = "claude-code"
        await until(lambda: [r.id for r in screen.rows] == [shipped.id], what="agent filter", pilot=pilot)
        screen.query_one("#history-agent", Select).clear()
        await pilot.press("slash", *"SHIP IT")
        await until(lambda: [r.id for r in screen.rows] == [shipped.id], what="text filter on answers", pilot=pilot)
