"""Smoke test against a real notification daemon: dunst on Xvfb and a private session bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests import desktop
from tests.deadline import until
from tests.tray.test_notifier import TIMEOUT, Calls, calls, make_request
from tray.notifier import RequestNotifier

__all__ = ["calls"]  # the fixture, shared with the fake-server tests


@pytest.fixture
async def notifier(dunst: desktop.Dunst, calls: Calls) -> AsyncIterator[RequestNotifier]:
    """A RequestNotifier talking to dunst (which has nothing on screen)."""
    notifier = RequestNotifier(calls.on_answer, calls.on_open)
    yield notifier
    await notifier.aclose()


async def on_screen(dunst: desktop.Dunst, count: int = 1) -> None:
    """Wait until dunst displays ``count`` notifications."""
    await until(lambda: dunst.count("displayed") == count,
                                   what=f"{count} notification(s) on screen", timeout=TIMEOUT)


def in_history(dunst: desktop.Dunst, body: str) -> dict[str, object]:
    """Return the newest closed notification with this body."""
    return next(entry for entry in dunst.history() if entry["body"] == body)


async def test_dunst_offers_buttons_but_no_inline_reply(notifier: RequestNotifier) -> None:
    caps = await notifier.server_capabilities()
    assert "actions" in caps
    assert not await notifier.can_reply()


async def test_notification_reaches_dunst_and_its_default_action_opens_the_request(
    notifier: RequestNotifier, dunst: desktop.Dunst, calls: Calls
) -> None:
    await notifier.show(make_request(choices=["Yes", "No"]))
    await on_screen(dunst)
    dunst.ctl("action", "0")
    assert await calls.next() == ("open", "r1")
    # dunst keeps the notification on screen after the action: withdrawing it must close it.
    assert dunst.count("displayed") == 1
    assert await notifier.withdraw("r1")
    await on_screen(dunst, 0)
    entry = in_history(dunst, "Deploy to prod?")
    assert (entry["appname"], entry["summary"]) == ("hitl-desk", "claude")
    assert entry["default_action_name"] == "default"


async def test_pressing_a_choice_in_dunst_answers_the_request(
    notifier: RequestNotifier, dunst: desktop.Dunst, calls: Calls
) -> None:
    await notifier.show(make_request("r2", prompt="Ship it?", choices=["Yes", "No"]))
    await on_screen(dunst)
    menu = dunst.press("No")
    assert {line.split(" (")[0] for line in menu} == {"#", "#Yes", "#No"}  # "#": the default
    assert await calls.next() == ("answer", "r2", "No")


async def test_free_text_question_on_dunst_gets_a_reply_button_that_opens_the_request(
    notifier: RequestNotifier, dunst: desktop.Dunst, calls: Calls
) -> None:
    await notifier.show(make_request("r3", prompt="Which branch?"))
    await on_screen(dunst)
    menu = dunst.press("Reply…")
    assert {line.split(" (")[0] for line in menu} == {"#", "#Reply…"}
    assert await calls.next() == ("open", "r3")
    assert await notifier.withdraw("r3")
    await on_screen(dunst, 0)
    assert in_history(dunst, "Which branch?")["summary"] == "claude"
