"""RequestNotifier against a real private session bus and a fake notification server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hitl_desk.models import HitlRequest
from tests.deadline import until
from tests.tray.fake_notifications import (
    NO_REPLY_CAPABILITIES,
    REASON_EXPIRED,
    FakeNotificationServer,
    NotifyCall,
)
from tray.notifier import (
    MORE_LABEL,
    REPLY_LABEL,
    NotificationServerError,
    RequestNotifier,
)

TIMEOUT = 5.0


def make_request(rid: str = "r1", **fields: Any) -> HitlRequest:
    """Build a pending input request."""
    data: dict[str, Any] = {
        "id": rid, "kind": "input", "status": "pending", "agent_id": "a1",
        "agent_name": "claude", "prompt": "Deploy to prod?",
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    data.update(fields)
    return HitlRequest.model_validate(data)


class Calls:
    """Records the notifier's callbacks and lets a test await the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, ...]] = asyncio.Queue()

    def on_answer(self, request_id: str, text: str) -> None:
        self.queue.put_nowait(("answer", request_id, text))

    def on_open(self, request_id: str) -> None:
        self.queue.put_nowait(("open", request_id))

    async def next(self) -> tuple[str, ...]:
        """Return the next callback, failing the test after a few seconds."""
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)


@pytest.fixture
def calls() -> Calls:
    """A fresh callback recorder."""
    return Calls()


@pytest.fixture
async def notifier(
    notification_server: FakeNotificationServer, calls: Calls
) -> AsyncIterator[RequestNotifier]:
    """A RequestNotifier talking to the fake server over the private bus."""
    notifier = RequestNotifier(calls.on_answer, calls.on_open)
    yield notifier
    await notifier.aclose()


async def shown(server: FakeNotificationServer, summary: str = "claude") -> NotifyCall:
    """Await the Notify call with this title."""
    return await server.wait_for_notify(lambda call: call.summary == summary, TIMEOUT)


async def test_question_with_choices_becomes_a_notification_with_one_button_per_choice(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    await notifier.show(make_request(choices=["Yes", "No"]))
    call = await shown(notification_server)
    assert call.app_name == "hitl-desk"
    assert call.body == "Deploy to prod?"
    labels = list(call.buttons.values())
    assert labels == ["", "Yes", "No"]  # "" is the default (body click) action
    assert call.buttons["default"] == ""
    assert call.expire_timeout == 0
    assert "inline-reply" not in call.buttons


async def test_pressing_a_choice_button_answers_with_that_choice(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request(choices=["Yes", "No"]))
    call = await shown(notification_server)
    notification_server.invoke_action(call.id, call.key_for("No"))
    assert await calls.next() == ("answer", "r1", "No")


async def test_a_notification_the_server_closed_is_forgotten_and_can_be_shown_again(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    await notifier.show(make_request())
    call = await shown(notification_server)
    assert notifier.shown == {"r1"}
    notification_server.close(call.id, REASON_EXPIRED)
    await until(lambda: not notifier.shown, what="forget closed notification")
    await notifier.show(make_request())
    assert len(notification_server.notifies) == 2


async def test_withdraw_closes_a_notification_that_stayed_on_screen_after_a_click(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request(choices=["Yes"]))
    call = await shown(notification_server)
    notification_server.invoke_action(call.id, "default", close=False)  # as dunstctl action does
    assert await calls.next() == ("open", "r1")
    assert await notifier.withdraw("r1")
    await notification_server.wait_for_close(call.id, TIMEOUT)
    assert call.id not in notification_server.open_ids


async def test_more_choices_than_buttons_end_with_a_more_button_that_opens_the_request(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request(choices=["a", "b", "c", "d"]))
    call = await shown(notification_server)
    assert list(call.buttons.values())[1:] == ["a", "b", MORE_LABEL]
    notification_server.invoke_action(call.id, call.key_for(MORE_LABEL))
    assert await calls.next() == ("open", "r1")


async def test_free_text_question_gets_a_reply_field_whose_text_is_the_answer(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request(placeholder_text="branch name"))
    call = await shown(notification_server)
    assert call.buttons["inline-reply"] == "branch name"
    notification_server.reply(call.id, "main")
    assert await calls.next() == ("answer", "r1", "main")


@pytest.mark.parametrize("server_capabilities", [NO_REPLY_CAPABILITIES])
async def test_without_inline_reply_a_reply_button_asks_the_app_to_open_the_request(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    assert not await notifier.can_reply()
    await notifier.show(make_request())
    call = await shown(notification_server)
    assert "inline-reply" not in call.buttons
    notification_server.invoke_action(call.id, call.key_for(REPLY_LABEL))
    assert await calls.next() == ("open", "r1")


async def test_clicking_the_notification_body_opens_the_request(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request(choices=["Yes"]))
    call = await shown(notification_server)
    notification_server.invoke_action(call.id, "default")
    assert await calls.next() == ("open", "r1")


async def test_completion_is_titled_finished_and_can_be_replied_to(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request("c1", kind="completion", prompt="Refactor done"))
    call = await shown(notification_server, "claude finished")
    notification_server.reply(call.id, "thanks, ship it")
    assert await calls.next() == ("answer", "c1", "thanks, ship it")


async def test_plain_notification_has_no_buttons_and_expires_normally(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    note = make_request("n1", kind="notification", status="delivered", prompt="Build green")
    assert await notifier.show(note) is not None
    call = await shown(notification_server)
    assert list(call.buttons) == ["default"]
    assert call.expire_timeout == -1
    assert call.hints["urgency"] == 0
    assert notifier.shown == set()


async def test_withdraw_closes_the_notification_of_a_request_answered_elsewhere(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    await notifier.show(make_request(choices=["Yes"]))
    call = await shown(notification_server)
    assert await notifier.withdraw("r1")
    await notification_server.wait_for_close(call.id, TIMEOUT)
    assert call.id not in notification_server.open_ids
    assert not await notifier.withdraw("r1")


async def test_withdraw_after_the_user_dismissed_it_does_nothing(
    notifier: RequestNotifier, notification_server: FakeNotificationServer, calls: Calls
) -> None:
    await notifier.show(make_request(choices=["Yes"]))
    call = await shown(notification_server)
    notification_server.invoke_action(call.id, call.key_for("Yes"))
    await calls.next()
    await until(lambda: not notifier.shown, what="NotificationClosed handled")
    assert not await notifier.withdraw("r1")
    assert notification_server.record.closes == []


async def test_do_not_disturb_shows_nothing(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    notifier.dnd = True
    assert await notifier.show(make_request()) is None
    notifier.dnd = False
    await notifier.show(make_request("r2", prompt="after dnd"))
    call = await notification_server.wait_for_notify(timeout=TIMEOUT)
    assert call.body == "after dnd"
    assert len(notification_server.notifies) == 1


async def test_showing_the_same_pending_request_twice_keeps_one_notification(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    first = await notifier.show(make_request())
    assert await notifier.show(make_request()) == first
    assert len(notification_server.notifies) == 1


async def test_requests_no_longer_pending_are_not_shown(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    assert await notifier.show(make_request(status="answered")) is None
    assert notification_server.notifies == []


@pytest.mark.parametrize("server_capabilities", [("actions", "body", "body-markup")])
async def test_bodies_are_escaped_for_servers_that_parse_markup(
    notifier: RequestNotifier, notification_server: FakeNotificationServer
) -> None:
    await notifier.show(make_request(prompt="Delete <dir> & co?"))
    call = await shown(notification_server)
    assert call.body == "Delete &lt;dir&gt; &amp; co?"


async def test_async_callbacks_run_as_tasks(notification_server: FakeNotificationServer) -> None:
    answered: asyncio.Queue[str] = asyncio.Queue()

    async def on_answer(request_id: str, text: str) -> None:
        await answered.put(text)

    notifier = RequestNotifier(on_answer, lambda request_id: None)
    try:
        await notifier.show(make_request(choices=["Yes"]))
        call = await shown(notification_server)
        notification_server.invoke_action(call.id, call.key_for("Yes"))
        assert await asyncio.wait_for(answered.get(), TIMEOUT) == "Yes"
    finally:
        await notifier.aclose()


async def test_show_without_a_notification_server_raises(session_bus: str, calls: Calls) -> None:
    notifier = RequestNotifier(calls.on_answer, calls.on_open)
    try:
        with pytest.raises(NotificationServerError):
            await notifier.show(make_request())
    finally:
        await notifier.aclose()
