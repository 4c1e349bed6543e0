"""Smoke test of the tray app against the real dunst daemon on Xvfb and a private bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from tests import desktop
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.tray.test_app import TIMEOUT, agent, launched, recording_launcher, synced_tray, terminal
from tray.app import TrayApp
from tray.terminal import tui_command

__all__ = ["agent", "launched", "terminal"]  # fixtures used here


@pytest.fixture
async def app(
    relay: LiveRelay, dunst: desktop.Dunst, terminal: Path, launched: list[list[str]]
) -> AsyncIterator[TrayApp]:
    """The tray (no icon) talking to dunst, synced with the live relay."""
    async with synced_tray(relay, make_icon=None, launcher=recording_launcher(relay, terminal, launched)) as tray:
        yield tray


async def on_screen(app: TrayApp, dunst: desktop.Dunst, request_id: str) -> None:
    """Wait until dunst displays one notification and the app knows it is the request's."""
    await until(lambda: dunst.count("displayed") == 1, "notification on screen")
    assert app.notifier is not None
    notifier = app.notifier
    await until(lambda: request_id in notifier.shown, "app knows the notification")


async def test_a_request_reaches_dunst_and_its_default_action_opens_the_tui(
    app: TrayApp, agent: RelayClient, dunst: desktop.Dunst, relay: LiveRelay,
    terminal: Path, launched: list[list[str]],
) -> None:
    created = await agent.create_request("Deploy to prod?", choices=["Yes", "No"])
    await on_screen(app, dunst, created.id)
    dunst.ctl("action", "0")
    await until(lambda: len(launched) == 1, "TUI launched")
    assert launched == [[str(terminal), "-e", *tui_command(relay.url, request_id=created.id)]]
    # dunst keeps it on screen after the default action: an answer from elsewhere closes it.
    async with relay.owner() as phone:
        await phone.answer(created.id, "Yes")
    await until(lambda: dunst.count("displayed") == 0, "notification withdrawn")
    entry = next(e for e in dunst.history() if e["body"] == "Deploy to prod?")
    assert (entry["appname"], entry["summary"]) == ("hitl-desk", "claude")


async def test_pressing_a_choice_in_dunst_answers_the_request_on_the_relay(
    app: TrayApp, agent: RelayClient, dunst: desktop.Dunst
) -> None:
    created = await agent.create_request("Ship it?", choices=["Ship", "Wait"])
    waiting = asyncio.create_task(agent.wait_for_answer(created.id))
    await on_screen(app, dunst, created.id)
    await asyncio.to_thread(dunst.press, "Wait")
    answered = await asyncio.wait_for(waiting, TIMEOUT)
    assert (answered.status, answered.response) == ("answered", "Wait")
    await until(lambda: app.view.badge == 0, "badge 0")
