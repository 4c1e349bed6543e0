"""End-to-end encryption through the TUI against a live relay: the desk key is made by the TUI,
encrypted questions are shown decrypted, answers are sealed, and the relay keeps no plaintext."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from hitl_desk.client import RelayClient
from hitl_desk.crypto import fingerprint
from hitl_desk.e2ee import AgentEncryption
from hitl_desk.errors import RequestCancelledError
from hitl_desk.settings import Settings
from tests.conftest import LiveRelay, start_relay
from tests.deadline import until
from tests.secrecy import assert_relay_kept_none_of
from tests.tui.sync import first_sync
from tests.tui.test_pilot import row_texts
from tui.app import HitlDeskApp
from tui.screens.history import HistoryScreen
from tui.screens.modals import ConfirmModal
from tui.screens.request import RequestScreen

SIZE = (140, 30)
SECRET_PROMPT = "Rotate the prod password to tangerine-walrus?"
SECRET_CHOICES = ["rotate-now-ocelot", "wait-for-monday-heron"]
SECRET_QUESTION = "Which codename for the launch, periwinkle-yak?"
SECRET_TEXT = "marmalade-comet, after the backup"


def home_settings(home: Path, relay: LiveRelay) -> Settings:
    """Settings for a client keeping its keys and pins in ``home``."""
    return Settings(home=home, server_url=relay.url, server_url_set=True)


def desk_app(owner: RelayClient, relay: LiveRelay, home: Path | None = None) -> HitlDeskApp:
    """The TUI as the owner; its desk key lives in the relay's home unless told otherwise."""
    settings = relay.settings if home is None else home_settings(home, relay)
    return HitlDeskApp(owner, url=relay.url, settings=settings)


async def encrypted_agent(relay: LiveRelay, tmp_path: Path, name: str) -> AgentEncryption:
    """An agent that seals its questions, with its own home (its key and its pin of the desk key)."""
    return AgentEncryption(await relay.agent(name), home_settings(tmp_path / f"{name}-home", relay), name)


async def desk_key_made(app: HitlDeskApp, pilot: Pilot[Any]) -> None:
    """Wait until the TUI made (or loaded) the desk key and synced."""
    await until(lambda: app.link.reader.has_desk_key and app.state.synced, what="desk key ensured", pilot=pilot)


async def test_first_tui_makes_the_desk_key_shows_an_encrypted_request_decrypted_and_a_number_key_seals_that_choice(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    app = desk_app(owner, relay)
    agent = await encrypted_agent(relay, tmp_path, "secret-agent")
    async with agent.client, app.run_test(size=SIZE) as pilot:
        await desk_key_made(app, pilot)
        key_file = relay.home / "desk.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert app.link.reader.desk is not None and app.link.reader.desk.keys is not None
        assert await owner.desk_public_key() == app.link.reader.desk.keys.public_key
        asked = asyncio.create_task(agent.ask(SECRET_PROMPT, choices=SECRET_CHOICES))
        await until(lambda: any(SECRET_PROMPT in t for t in row_texts(app)), what="decrypted row", pilot=pilot)
        row = next(t for t in row_texts(app) if SECRET_PROMPT in t)
        # The agent's first request pins its key: the row shows the fingerprint that was trusted.
        assert f"🔒 new key {fingerprint(agent.keys.public_key)} · {SECRET_PROMPT}" in row
        assert app.state.pending[0].encrypted and app.state.pending[0].prompt == ""  # kept as sent
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, RequestScreen)
        assert "🔒 E2EE" in str(screen.query_one("#request-meta", Static).content)
        assert [str(b.label) for b in screen.query(".choice").results(Button)] == [f"{n} {c}" for n, c in
                                                                     enumerate(SECRET_CHOICES, 1)]
        await pilot.press("2")
        async with asyncio.timeout(10):
            assert await asked == SECRET_CHOICES[1]
        await until(lambda: not isinstance(app.screen, RequestScreen), what="screen closed", pilot=pilot)
        await until(lambda: not app.state.pending, what="row gone", pilot=pilot)
    await assert_relay_kept_none_of(relay, SECRET_PROMPT, *SECRET_CHOICES)


@pytest.mark.slow  # 3.2 s
async def test_free_text_answer_to_an_encrypted_question_reaches_the_agent_and_never_the_relay(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    app = desk_app(owner, relay)
    agent = await encrypted_agent(relay, tmp_path, "codename-agent")
    async with agent.client, app.run_test(size=SIZE) as pilot:
        await desk_key_made(app, pilot)
        asked = asyncio.create_task(agent.ask(SECRET_QUESTION, placeholder="a codename"))
        await until(lambda: any(SECRET_QUESTION in t for t in row_texts(app)), what="decrypted row", pilot=pilot)
        await pilot.press("enter")
        field = app.screen.query_one("#answer-text", Input)
        assert field.has_focus and field.placeholder == "a codename"
        await pilot.press(*SECRET_TEXT, "enter")
        async with asyncio.timeout(10):
            assert await asked == SECRET_TEXT
        await until(lambda: not isinstance(app.screen, RequestScreen), what="screen closed", pilot=pilot)
        await pilot.press("h")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await until(lambda: len(history.rows) == 1, what="history row", pilot=pilot)
        assert (history.rows[0].prompt, history.rows[0].response) == (SECRET_QUESTION, SECRET_TEXT)
    await assert_relay_kept_none_of(relay, SECRET_QUESTION, SECRET_TEXT, "a codename")


async def test_approver_without_the_desk_key_says_it_cannot_read_offers_no_answer_and_can_cancel(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    desk = desk_app(owner, relay)
    async with desk.run_test(size=SIZE) as pilot:
        await desk_key_made(desk, pilot)
    desk_key = await owner.desk_public_key()
    laptop_home = tmp_path / "laptop"
    laptop = desk_app(owner, relay, home=laptop_home)
    agent = await encrypted_agent(relay, tmp_path, "secret-agent")
    async with agent.client, laptop.run_test(size=SIZE) as pilot:
        await first_sync(laptop, pilot)
        asked = asyncio.create_task(agent.ask(SECRET_PROMPT, choices=SECRET_CHOICES))
        await until(lambda: any("🔒 cannot read: no desk key on this approver" in t
                                       for t in row_texts(laptop)), what="cannot-read row", pilot=pilot)
        assert not any(SECRET_PROMPT in t for t in row_texts(laptop))
        assert not (laptop_home / "desk.key").exists()
        assert await owner.desk_public_key() == desk_key  # a second approver never replaces the key
        await pilot.press("enter")
        screen = laptop.screen
        assert isinstance(screen, RequestScreen)
        assert not screen.query(".choice") and not screen.query("#answer-text")
        assert "cannot read" in str(screen.query_one("#request-meta", Static).content)
        await pilot.press("1", "ctrl+s")
        assert not asked.done() and len(laptop.state.pending) == 1
        await pilot.press("ctrl+x")
        assert isinstance(laptop.screen, ConfirmModal)
        await pilot.press("y")
        with pytest.raises(RequestCancelledError):
            async with asyncio.timeout(10):
                await asked


async def test_desk_key_is_made_when_the_relay_comes_back_after_being_down_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    running = await start_relay(home)
    live = LiveRelay(running, home)
    port, token = running.port, live.owner_token
    await running.stop()
    try:
        async with RelayClient(live.url, token) as owner:
            app = HitlDeskApp(owner, url=live.url, settings=live.settings)
            async with app.run_test(size=SIZE) as pilot:
                await until(lambda: app.state.connection.error is not None, what="a failed connect", pilot=pilot)
                assert not app.link.reader.has_desk_key
                running = await start_relay(home, port)
                await until(lambda: app.link.reader.has_desk_key, what="desk key made on connect", pilot=pilot)
                assert app.link.reader.desk is not None and app.link.reader.desk.keys is not None
                assert await owner.desk_public_key() == app.link.reader.desk.keys.public_key
    finally:
        await running.stop()
