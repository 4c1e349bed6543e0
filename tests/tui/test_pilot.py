"""The TUI against a live relay: requests appear, keys answer them, the agent gets the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.notifications import Notify
from textual.widgets import Input
from textual.widgets._markdown import MarkdownBlock

from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay, start_relay
from tests.deadline import until
from tests.tui.sync import first_sync
from tui.app import HitlDeskApp
from tui.screens.help import HelpModal
from tui.screens.request import RequestScreen
from tui.widgets.request_table import RequestTable

SIZE = (100, 30)


def row_texts(app: HitlDeskApp) -> list[str]:
    """The queue rows as rendered on screen right now."""
    table = app.screen.query_one(RequestTable)
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


def toasts() -> tuple[list[str], Callable[[object], None]]:
    """A message hook for ``run_test`` and the list of toast texts it collects."""
    notes: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification.message)

    return notes, hook


async def test_number_key_answers_and_agent_receives_that_exact_choice(relay: LiveRelay,
                                                                        owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("claude-code") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        created = await agent.create_request("Deploy to **prod**?", choices=["Yes", "No, wait"])
        waiter = asyncio.create_task(agent.wait_for_answer(created.id))
        await until(lambda: any("Deploy to" in t for t in row_texts(app)), what="row on screen", pilot=pilot)
        assert "claude-code" in row_texts(app)[0]
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen)
        await pilot.press("2")
        done = await asyncio.wait_for(waiter, 10)
        assert (done.status, done.response) == ("answered", "No, wait")
        await until(lambda: not isinstance(app.screen, RequestScreen), what="screen closed", pilot=pilot)
        await until(lambda: created.id not in app.state.pending, what="row gone", pilot=pilot)


async def test_free_text_answer_with_placeholder_reaches_the_agent_verbatim(relay: LiveRelay,
                                                                           owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("cursor") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        created = await agent.create_request("Which branch should I rebase onto?",
                                             placeholder_text="branch name, e.g. main")
        waiter = asyncio.create_task(agent.wait_for_answer(created.id))
        await until(lambda: created.id in app.state.pending, what="request listed", pilot=pilot)
        await pilot.press("enter")
        field = app.screen.query_one("#answer-text", Input)
        assert field.has_focus and field.placeholder == "branch name, e.g. main"
        await pilot.press(*"release/2.1 rc")
        await pilot.press("enter")
        done = await asyncio.wait_for(waiter, 10)
        assert (done.status, done.response) == ("answered", "release/2.1 rc")


async def test_request_answered_elsewhere_closes_its_screen_with_a_note(relay: LiveRelay,
                                                                       owner: RelayClient) -> None:
    notes, hook = toasts()

    app = HitlDeskApp(owner, url=relay.url)
    async with (await relay.agent("claude-code") as agent, relay.owner() as phone,
                app.run_test(size=SIZE, message_hook=hook) as pilot):
        await first_sync(app, pilot)
        opened = await agent.create_request("Merge the PR?", choices=["Yes", "No"])
        await until(lambda: opened.id in app.state.pending, what="request listed", pilot=pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen)
        await phone.answer(opened.id, "Yes")
        await until(lambda: not isinstance(app.screen, RequestScreen), what="screen closed", pilot=pilot)
        assert opened.id not in app.state.pending
        assert any(n.startswith("Answered elsewhere") and "'Yes'" in n for n in notes), notes


async def test_request_the_agent_withdraws_closes_its_screen_saying_why(relay: LiveRelay,
                                                                       owner: RelayClient) -> None:
    notes, hook = toasts()

    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("claude-code") as agent, app.run_test(size=SIZE, message_hook=hook) as pilot:
        await first_sync(app, pilot)
        opened = await agent.create_request("Merge the PR?", choices=["Yes", "No"])
        await until(lambda: opened.id in app.state.pending, what="request listed", pilot=pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen)
        assert await agent.withdraw(opened.id)
        await until(lambda: not isinstance(app.screen, RequestScreen), what="screen closed", pilot=pilot)
        assert any(n.startswith("Cancelled (withdrawn by the agent)") for n in notes), notes


async def test_request_answered_elsewhere_leaves_the_queue_with_a_note(relay: LiveRelay,
                                                                      owner: RelayClient) -> None:
    notes, hook = toasts()

    app = HitlDeskApp(owner, url=relay.url)
    async with (await relay.agent("claude-code") as agent, relay.owner() as phone,
                app.run_test(size=SIZE, message_hook=hook) as pilot):
        await first_sync(app, pilot)
        kept = await agent.create_request("Keep me")
        gone = await agent.create_request("Answer me elsewhere")
        await until(lambda: len(app.state.pending) == 2, what="both listed", pilot=pilot)
        await phone.answer(gone.id, "done on the phone")
        await until(lambda: not any("elsewhere" in t for t in row_texts(app)), what="row gone", pilot=pilot)
        assert any("Keep me" in t for t in row_texts(app))
        assert [r.id for r in app.state.pending] == [kept.id]
        await until(lambda: any("done on the phone" in n for n in notes), what="note", pilot=pilot)


async def test_tui_reconnects_after_relay_restart_and_the_queue_is_right(tmp_path: Path) -> None:
    home = tmp_path / "home"
    running = await start_relay(home)
    port = running.port
    live = LiveRelay(running, home)
    try:
        async with live.owner() as owner, await live.agent("claude-code") as agent:
            app = HitlDeskApp(owner, url=live.url)
            async with app.run_test(size=SIZE) as pilot:
                await first_sync(app, pilot)
                answered_while_down = await agent.create_request("Answered while the TUI is away")
                stays = await agent.create_request("Still pending after the restart")
                await until(lambda: len(app.state.pending) == 2, what="both listed", pilot=pilot)
                await running.stop()
                await until(lambda: not app.state.connection.connected, what="disconnected", pilot=pilot)
                await until(lambda: app.state.connection.error is not None, what="a failed retry", pilot=pilot)
                running = await start_relay(home, port)
                live = LiveRelay(running, home)
                created_while_down = await agent.create_request("Asked while the TUI was away")
                async with live.owner() as phone:
                    await phone.answer(answered_while_down.id, "ok")
                await until(lambda: app.state.connection.connected, what="reconnected", pilot=pilot)
                expected = {stays.id, created_while_down.id}
                await until(lambda: {r.id for r in app.state.pending} == expected, what="queue right", pilot=pilot)
                await until(lambda: any("Asked while" in t for t in row_texts(app)), what="row shown", pilot=pilot)
                assert not any("Answered while" in t for t in row_texts(app))
    finally:
        await running.stop()


async def test_request_arriving_after_the_queue_emptied_opens_with_enter(relay: LiveRelay,
                                                                         owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("claude-code") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        first = await agent.create_request("First question?", choices=["Yes", "No"])
        await until(lambda: first.id in app.state.pending, what="first listed", pilot=pilot)
        await pilot.press("enter", "1")
        await until(lambda: not app.state.pending and not isinstance(app.screen, RequestScreen),
                    what="queue empty", pilot=pilot)
        second = await agent.create_request("Second question?", choices=["Yes", "No"])
        await until(lambda: any("Second question" in t for t in row_texts(app)), what="second row", pilot=pilot)
        assert isinstance(app.focused, RequestTable)
        assert "enter" in app.screen.active_bindings  # the footer offers Open again
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen) and app.screen.request_id == second.id


async def test_question_mark_and_f1_list_the_keys_of_the_screen_from_its_bindings(relay: LiveRelay,
                                                                                  owner: RelayClient) -> None:
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("claude-code") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        await agent.create_request("Ship it?", choices=["Yes", "No"])
        await until(lambda: len(app.state.pending) == 1, what="listed", pilot=pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpModal)
        rows = dict((what, keys) for keys, what in app.screen.rows)
        assert rows["Open"] == "⏎" and rows["Cancel request"] == "^x" and rows["History"] == "h"
        assert rows["Help"] == "? / f1" and "Choose" not in rows
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpModal)
        await pilot.press("enter")  # on the request screen, F1 lists its own keys
        await pilot.press("f1")
        assert isinstance(app.screen, HelpModal)
        rows = dict((what, keys) for keys, what in app.screen.rows)
        assert rows["Choose"] == "1-9" and rows["Choice 2"] == "2" and "Choice 3" not in rows
        assert rows["Back"] == "esc" and "Open" not in rows
        await pilot.press("f1")
        assert isinstance(app.screen, RequestScreen)


async def test_a_link_in_a_prompt_is_shown_escaped_and_never_opened(relay: LiveRelay, owner: RelayClient) -> None:
    notes: list[str] = []
    opened_urls: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification.message)

    app = HitlDeskApp(owner, url=relay.url)
    app.open_url = lambda url, **_: opened_urls.append(url)  # type: ignore[method-assign]  # textual's, not ours
    async with await relay.agent("claude-code") as agent, app.run_test(size=SIZE, message_hook=hook) as pilot:
        await first_sync(app, pilot)
        asked = await agent.create_request("[Run the tests](https://evil.invalid/x)?", choices=["Yes"])
        await until(lambda: asked.id in app.state.pending, what="request listed", pilot=pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, RequestScreen)
        block = next(b for b in app.screen.query(MarkdownBlock) if "Run the tests" in str(b.render()))
        await block.action_link("https://evil.invalid/x\x1b]0;t\x07")
        await until(lambda: any("evil.invalid" in n for n in notes), what="link shown", pilot=pilot)
    assert opened_urls == []
    assert any(n == "https://evil.invalid/x\\x1b]0;t\\x07" for n in notes), notes


async def test_a_tui_started_on_a_request_shows_it_once_the_first_sync_is_complete(
        relay: LiveRelay, owner: RelayClient) -> None:
    async with await relay.agent("claude") as agent:
        created = await agent.create_request("Hold the release?", choices=["Hold", "Ship"])
        app = HitlDeskApp(owner, url=relay.url, request_id=created.id)
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: isinstance(app.screen, RequestScreen), what="the request shown", pilot=pilot)
            assert isinstance(app.screen, RequestScreen) and app.screen.request_id == created.id
