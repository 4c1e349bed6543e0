"""Approvals and always-allow rules in the TUI, against a live relay: the tool call shown escaped,
"Always allow" making a rule, the rules listed and revoked, History naming the rule that answered."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text
from textual.widgets import DataTable, Markdown, Static

from hitl_desk.action import ALLOW_ONCE, ALWAYS_ALLOW, APPROVAL_CHOICES, ToolAction
from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.tui.sync import first_sync
from tui.app import HitlDeskApp
from tui.screens.history import HistoryScreen
from tui.screens.modals import ConfirmModal
from tui.screens.request import RequestScreen
from tui.screens.rules import RulesScreen

SIZE = (110, 30)
INJECTED = "git status\nrm -rf ~ \x1b]0;owned\x07"


@pytest.mark.slow  # a Textual app against the relay, ~2.5 s
async def test_an_approval_shows_its_call_escaped_and_always_allow_makes_its_rule(
        relay: LiveRelay, owner: RelayClient) -> None:
    tui = RelayClient(relay.url, relay.owner_token, via="tui")  # as `hitl-desk tui` makes it
    app = HitlDeskApp(tui, url=relay.url)
    async with tui, await relay.agent("coder") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        asked = await agent.create_request("Run this command?", choices=list(APPROVAL_CHOICES),
                                           action=ToolAction(tool="Bash", argument=INJECTED, cwd="/work"))
        waiter = asyncio.create_task(agent.wait_for_answer(asked.id))
        await until(lambda: asked.id in app.state.pending, what="approval listed", pilot=pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen)
        shown = str(app.screen.query_one("#request-action", Static).render())
        assert "Bash: git status\\x0arm -rf ~ \\x1b]0;owned\\x07  (in /work)" in shown
        await pilot.press("3")
        done = await asyncio.wait_for(waiter, 10)
        assert done.response == ALWAYS_ALLOW
        [rule] = await owner.list_rules()
        assert (rule.tool, rule.kind, rule.pattern) == ("Bash", "exact", INJECTED)
        again = await agent.create_request("Run this command?", choices=list(APPROVAL_CHOICES),
                                           action=ToolAction(tool="Bash", argument=INJECTED, cwd="/work"))
        assert (again.status, again.response) == ("answered", ALLOW_ONCE)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await until(lambda: again.id in [r.id for r in app.screen.rows], what="history row", pilot=pilot)
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=[r.id for r in app.screen.rows].index(again.id))
        await pilot.pause()
        body = app.screen.query_one("#history-body", Markdown).source
        assert f"by the always-allow rule {rule.id.replace('_', chr(92) + '_')}" in body
    entries = (await owner.audit_page()).entries
    assert [(e.answered_by, e.via) for e in entries if e.request_id == asked.id and e.event == "answered"] == [
        ("owner", "tui")]


@pytest.mark.slow  # a Textual app against the relay, ~2.5 s
async def test_the_rules_screen_lists_rules_escaped_and_revokes_the_selected_one(
        relay: LiveRelay, owner: RelayClient) -> None:
    await owner.add_rule("coder", "Bash", "prefix", "make")
    kept = await owner.add_rule("evil\x1b[2J\u202e", "Edit", "path", "/work/project")
    app = HitlDeskApp(owner, url=relay.url)
    async with app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        await pilot.press("a", "p")
        assert isinstance(app.screen, RulesScreen)
        table: DataTable[Text] = app.screen.query_one(DataTable)
        await until(lambda: table.row_count == 2, what="rules listed", pilot=pilot)
        assert table.get_row_at(0)[0].plain == "evil\\x1b[2J\\u202e"  # newest first, escaped
        await pilot.press("down", "d")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await until(lambda: table.row_count == 1, what="rule revoked", pilot=pilot)
        assert [r.id for r in await owner.list_rules()] == [kept.id]
        await pilot.press("escape")
        assert not isinstance(app.screen, RulesScreen)
