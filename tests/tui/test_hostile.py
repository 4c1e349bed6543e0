"""Hostile agent text through the real relay into the TUI: shown escaped, never obeyed as markup.

Every string of ``tests.hostile.HOSTILE`` arrives as an agent's name, prompt, choices and
placeholder, and as a notification.  The app must survive every screen that shows it (queue
with its arrival toast, request, palette, feed, history, agents, keys), draw none of
``FORBIDDEN``, and still answer with the exact choice the agent sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rich.text import Text
from textual.app import App
from textual.notifications import Notify
from textual.widgets import Button, DataTable, Input

from hitl_desk.client import RelayClient
from hitl_desk.display import visible_line
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.hostile import FORBIDDEN, HOSTILE
from tests.tui.sync import first_sync
from tui.app import HitlDeskApp
from tui.screens.agents import AgentsScreen
from tui.screens.modals import ConfirmModal
from tui.screens.request import RequestScreen

SIZE = (120, 36)


def drawn(app: App[Any]) -> str:
    """Every line the current screen draws now, toasts included."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def held(app: App[Any]) -> list[str]:
    """What the current screen's widgets hold: button labels, inputs, table cells."""
    found: list[str] = []
    for widget in app.screen.walk_children():
        if isinstance(widget, Button):
            found.append(str(widget.label))
        elif isinstance(widget, Input):
            found += [widget.value, widget.placeholder]
        elif isinstance(widget, DataTable):
            for row in range(widget.row_count):
                found += [cell.plain if isinstance(cell, Text) else str(cell) for cell in widget.get_row_at(row)]
    return found


def assert_clean(app: App[Any], where: str) -> None:
    """Nothing forbidden is drawn or held, and the app still runs."""
    assert app.is_running, f"the app died on {where}"
    screen = drawn(app)
    assert not FORBIDDEN.search(screen), f"{where} draws {FORBIDDEN.search(screen)!r}"
    for text in held(app):
        assert not FORBIDDEN.search(text), f"{where} holds {text!r}"


@pytest.mark.slow
async def test_every_hostile_string_is_shown_escaped_on_every_screen_and_answers_stay_exact(
        relay: LiveRelay, owner: RelayClient) -> None:
    notes: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, Notify):
            notes.extend((message.notification.title, message.notification.message))

    app = HitlDeskApp(owner, url=relay.url)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await first_sync(app, pilot)
        for name, text in HOSTILE.items():
            async with await relay.agent(text) as agent:
                await agent.notify(f"note {text}")
                created = await agent.create_request(f"**{name}** {text}", choices=[text, f"no {text}"],
                                                     placeholder_text=text)
                waiter = asyncio.create_task(agent.wait_for_answer(created.id))
                await until(lambda: created.id in app.state.pending and not app.state.announce,
                            what=f"{name} listed and announced", pilot=pilot)
                await pilot.pause()
                assert_clean(app, f"the queue with {name}")
                assert visible_line(text) in drawn(app), f"{name} is not shown escaped in the queue"
                await pilot.press("enter")
                assert isinstance(app.screen, RequestScreen)
                await pilot.pause()
                assert_clean(app, f"the request screen of {name}")
                assert app.screen.query_one("#answer-text", Input).placeholder == visible_line(text)
                await pilot.press("ctrl+p")  # the palette lists "Answer: <choice>" at once
                await pilot.pause()
                assert_clean(app, f"the palette on {name}")
                await pilot.press("escape")
                await pilot.press("1")
                done = await asyncio.wait_for(waiter, 10)
                assert done.response == text, name  # shown escaped, answered exactly as sent
                await until(lambda: not isinstance(app.screen, RequestScreen), what="back to queue", pilot=pilot)
        for key, section in (("n", "feed"), ("h", "history"), ("a", "agents"), ("k", "keys")):
            await pilot.press(key)
            await until(lambda: app.current_mode == section, what=section, pilot=pilot)
            await pilot.pause()
            await until(lambda: all(w.is_finished for w in app.workers if w.group in ("history", "directory")),
                        what=f"{section} loaded", pilot=pilot)
            await pilot.pause()
            assert_clean(app, section)
        assert isinstance(app.screen, AgentsScreen) or app.current_mode == "keys"
        for note in notes:
            assert not FORBIDDEN.search(note), note
        assert any(visible_line(HOSTILE["markup_close"]) in n for n in notes), notes


@pytest.mark.slow
async def test_agents_screen_opens_with_a_hostile_agent_name_and_makes_its_key(relay: LiveRelay,
                                                                            owner: RelayClient) -> None:
    name = "[/x] agent \x1b]0;pwned\x07 \u202eeman"
    await owner.create_agent(name)
    app = HitlDeskApp(owner, url=relay.url)
    async with app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        await pilot.press("a")
        await until(lambda: any(a.name == name for a in app.state.agents), what="agents loaded", pilot=pilot)
        await pilot.pause()
        assert_clean(app, "the agents screen")
        assert visible_line(name) in held(app)
        assert "[/x] agent \\x1b]0;p" in drawn(app)  # the name column is 20 cells wide
        await pilot.press("enter")  # a key for the selected agent: the dialog shows the name escaped
        await pilot.pause()
        assert_clean(app, "the new-key dialog")
        await pilot.press("enter")
        await until(lambda: any(k.agent_name == name for k in app.state.keys), what="key made", pilot=pilot)
        await pilot.pause()
        assert_clean(app, "the new key")
        await pilot.press("escape", "k")
        await until(lambda: app.current_mode == "keys", what="keys", pilot=pilot)
        await pilot.press("d")  # revoking asks, naming the agent
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert_clean(app, "the revoke question")
        assert "[/x] agent \\x1b]0;pwned\\x07" in drawn(app)
        await pilot.press("n")
    keys = await owner.list_api_keys()
    assert [k.agent_name for k in keys] == [name]  # the key went to the agent itself, not an escaped copy


async def test_html_entities_in_a_markdown_prompt_are_shown_as_sent_not_decoded(relay: LiveRelay,
                                                                              owner: RelayClient) -> None:
    prompt = "Deploy **now**? &#x1b;]0;pwned&#7; &rlm;gnirts"
    app = HitlDeskApp(owner, url=relay.url)
    async with await relay.agent("entity-agent") as agent, app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        created = await agent.create_request(prompt)
        await until(lambda: created.id in app.state.pending, what="listed", pilot=pilot)
        await pilot.pause()
        assert "Deploy now? &#x1b;]0;pwned&#7; &rlm;gnirts" in drawn(app)  # the row: plain, not decoded
        await pilot.press("enter")
        await pilot.pause()
        assert_clean(app, "the request screen")
        assert "&#x1b;]0;pwned&#7; &rlm;gnirts" in drawn(app)
