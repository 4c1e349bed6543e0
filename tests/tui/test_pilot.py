"""The TUI against a live relay: requests appear, keys answer them, the agent gets the answer."""

from __future__ import annotations

import asyncio

from textual.widgets import Input

from tests.conftest import LiveRelay
from tests.tui.conftest import until
from hitl_desk.client import RelayClient
from tui.app import HitlDeskApp
from tui.screens.request import RequestScreen
from tui.widgets.request_table import RequestTable

SIZE = (100, 30)


def row_texts(app: HitlDeskApp) -> list[str]:
    """The queue rows as rendered on screen right now."""
    table = app.screen.query_one(RequestTable)
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


async def test_number_key_answers_and_agent_receives_that_exact_choice(relay: LiveRelay,
                                                                        owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("claude-code") as agent, app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state.synced, what="first sync")
        created = await agent.create_request("Deploy to **prod**?", choices=["Yes", "No, wait"])
        waiter = asyncio.create_task(agent.wait_for_answer(created.id))
        await until(pilot, lambda: any("Deploy to" in t for t in row_texts(app)), what="row on screen")
        assert "claude-code" in row_texts(app)[0]
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen)
        await pilot.press("2")
        done = await asyncio.wait_for(waiter, 10)
        assert (done.status, done.response) == ("answered", "No, wait")
        await until(pilot, lambda: not isinstance(app.screen, RequestScreen), what="screen closed")
        await until(pilot, lambda: created.id not in app.state.pending, what="row gone")
