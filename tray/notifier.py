"""Desktop notifications for pending requests, through desktop-notifier 6.2 (DBus on Linux).

A question becomes a notification whose buttons are its choices and whose reply field (where
the server offers ``inline-reply``) answers it; the callbacks hand the answer back to the app.
Servers without inline reply (dunst) get a "Reply…" button that asks the app to open an input.
An encrypted request shows its decrypted content (through the ``read`` function) under a title
marked with the lock; one the tray cannot read says why and offers only "Open…".

Agent text is hostile: the title and the labels go through ``visible_line`` (via ``one_line``),
the body through ``visible``, and where the server parses markup in the body it is
html-escaped, so nothing an agent sends can style, link, reorder or hide what the human reads.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast.errors import DBusError
from desktop_notifier import (
    Button,
    Capability,
    DesktopNotifier,
    Icon,
    Notification,
    ReplyField,
    Urgency,
)

from hitl_desk.display import visible, visible_line
from hitl_desk.models import HitlRequest
from hitl_desk.reading import LOCK, UNVERIFIED, Readable, plain
from tray.state import APP_TITLE, one_line

log = logging.getLogger(__name__)

MAX_CHOICE_BUTTONS = 3
"""Most buttons a question gets; with more choices the last one becomes "More…"."""

BODY_CHARS = 400
"""Longest notification body; the full prompt is one "More…"/click away."""

MORE_LABEL = "More…"
REPLY_LABEL = "Reply…"
OPEN_LABEL = "Open…"
DEFAULT_ICON = Icon(name="dialog-question")

AnswerCallback = Callable[[str, str], Any]
"""``on_answer(request_id, text)``; may return an awaitable, which is then run as a task."""
OpenCallback = Callable[[str], Any]
"""``on_open(request_id)``; may return an awaitable, which is then run as a task."""


class NotificationServerError(RuntimeError):
    """No notification server answered on the session bus, or it refused the notification."""


def _truncate(text: str, limit: int = BODY_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis, keeping its line breaks."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class _Shown:
    """A notification on screen: desktop-notifier's identifier and the server's id."""

    identifier: str
    server_id: int


class RequestNotifier:
    """Shows requests as desktop notifications and routes buttons and replies to callbacks."""

    def __init__(
        self,
        on_answer: AnswerCallback,
        on_open: OpenCallback,
        *,
        app_name: str = APP_TITLE,
        app_icon: Icon | None = DEFAULT_ICON,
        max_buttons: int = MAX_CHOICE_BUTTONS,
        read: Callable[[HitlRequest], Readable] = plain,
    ) -> None:
        self._read = read
        self._on_answer = on_answer
        self._on_open = on_open
        self._max_buttons = max(1, max_buttons)
        self._notifier = DesktopNotifier(app_name=app_name, app_icon=app_icon)
        self._shown: dict[str, _Shown] = {}  # by request id
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server_caps: frozenset[str] | None = None
        self._dnd = False

    @property
    def dnd(self) -> bool:
        """Do not disturb: while true, ``show`` shows nothing (shown notifications stay)."""
        return self._dnd

    @dnd.setter
    def dnd(self, value: bool) -> None:
        self._dnd = value

    @property
    def shown(self) -> set[str]:
        """Ids of the requests whose notification may still be on screen."""
        return set(self._shown)

    async def capabilities(self) -> frozenset[Capability]:
        """Return what the notification server supports, in desktop-notifier's terms."""
        try:
            return await self._notifier.get_capabilities()
        except (DBusError, OSError, ValueError) as exc:
            # DBusError: nobody owns the name; OSError: no bus; ValueError: a bad bus address.
            raise NotificationServerError(f"no notification server: {exc}") from exc

    async def can_reply(self) -> bool:
        """True when the server shows a reply field (``inline-reply``)."""
        return Capability.REPLY_FIELD in await self.capabilities()

    async def server_capabilities(self) -> frozenset[str]:
        """Return the server's own capability strings (``body-markup``, ``actions``, …)."""
        await self._interface()
        return self._server_caps or frozenset()

    async def _interface(self) -> Any:
        """Connect through desktop-notifier and return its DBus proxy (None off DBus)."""
        await self.capabilities()
        # desktop-notifier 6.2 keeps the proxy to itself; we need it for two things it lacks:
        # the raw capability list (it drops "body-markup") and every NotificationClosed.
        interface = getattr(self._notifier._backend, "interface", None)
        if interface is None or self._server_caps is not None:
            return interface
        try:
            self._server_caps = frozenset(await interface.call_get_capabilities())
        except DBusError as exc:
            raise NotificationServerError(f"GetCapabilities failed: {exc}") from exc
        if hasattr(interface, "on_notification_closed"):
            interface.on_notification_closed(self._on_server_closed)
        return interface

    async def show(self, request: HitlRequest) -> str | None:
        """Show ``request``; return the notification identifier, or None when not shown."""
        if self.dnd or (request.kind != "notification" and request.status != "pending"):
            return None
        current = self._shown.get(request.id)
        if current is not None:
            return current.identifier
        notification = await self._build(request)
        await self._notifier.send_notification(notification)
        if notification.identifier not in await self._notifier.get_current_notifications():
            # desktop-notifier logs and swallows failures; make them visible to the caller.
            raise NotificationServerError(f"notification for request {request.id} was not sent")
        if request.kind != "notification":
            server_id = self._server_id(notification.identifier)
            self._shown[request.id] = _Shown(notification.identifier, server_id)
        return notification.identifier

    def _server_id(self, identifier: str) -> int:
        """Return the server's id for a notification desktop-notifier just sent (0 if unknown)."""
        ids = getattr(self._notifier._backend, "_platform_to_interface_notification_identifier", None)
        return int(ids.inverse.get(identifier, 0)) if ids is not None else 0

    def knows(self, server_id: int) -> bool:
        """Whether the server's notification ``server_id`` was sent here and is known (its buttons work)."""
        ids = getattr(self._notifier._backend, "_platform_to_interface_notification_identifier", None)
        return ids is not None and server_id in ids

    async def message(self, title: str, body: str) -> None:
        """Show a plain notice from the tray itself (an error, a hint), even in do-not-disturb."""
        body = await self._as_body(body)
        await self._notifier.send_notification(
            Notification(title=visible_line(title), message=body, urgency=Urgency.Low, timeout=-1)
        )

    async def confirm(self, title: str, body: str, yes: str, no: str) -> bool:
        """Ask a yes/no question with two buttons (even in do-not-disturb: the human asked for it);
        True once ``yes`` is pressed, False for ``no`` or when the notification is closed."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def decide(value: bool) -> None:
            if not answer.done():
                answer.set_result(value)

        notification = Notification(
            title=visible_line(title), message=await self._as_body(body), urgency=Urgency.Critical, timeout=0,
            buttons=(Button(yes, on_pressed=lambda: decide(True)), Button(no, on_pressed=lambda: decide(False))),
            on_dismissed=lambda: decide(False))
        await self._notifier.send_notification(notification)
        try:
            return await answer
        finally:
            if notification.identifier in await self._notifier.get_current_notifications():
                await self._notifier.clear(notification.identifier)

    async def _as_body(self, text: str) -> str:
        """Return ``text`` as a notification body: escaped, cut, and html-escaped for markup."""
        body = _truncate(visible(text))
        if "body-markup" in await self.server_capabilities():
            body = html.escape(body, quote=False)
        return body

    async def withdraw(self, request_id: str) -> bool:
        """Close the notification of ``request_id`` (answered elsewhere); False if none is shown."""
        shown = self._shown.pop(request_id, None)
        if shown is None:
            return False
        if shown.identifier in await self._notifier.get_current_notifications():
            try:
                await self._notifier.clear(shown.identifier)
                return True
            except KeyError:
                pass  # desktop-notifier dropped the id meanwhile: close it by server id below
        # desktop-notifier forgets a notification once any action fired, but dunst keeps it on
        # screen after a body click: close it ourselves.
        return await self._close_on_server(shown.server_id)

    async def _close_on_server(self, server_id: int) -> bool:
        """Send ``CloseNotification`` for ``server_id``; False if the server refused."""
        interface = await self._interface()
        if interface is None or server_id == 0:
            return False
        try:
            await interface.call_close_notification(server_id)
        except DBusError:
            return False  # the spec answers an already closed id with an error
        return True

    async def withdraw_all(self) -> None:
        """Close every notification this notifier shows."""
        for request_id in list(self._shown):
            await self.withdraw(request_id)

    async def aclose(self) -> None:
        """Close the DBus connection; pending callback tasks are awaited first."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # desktop-notifier 6.2 has no close(): its connection would leak until garbage collection.
        bus = getattr(self._notifier._backend, "bus", None)
        if bus is not None and bus.connected:
            bus.disconnect()
            await bus.wait_for_disconnect()

    def _on_server_closed(self, server_id: int, reason: int) -> None:
        """The server closed a notification (expired, dismissed, action, or our request)."""
        for request_id, shown in list(self._shown.items()):
            if shown.server_id == server_id:
                del self._shown[request_id]

    async def _build(self, request: HitlRequest) -> Notification:
        """Turn a request into a desktop-notifier ``Notification`` with its buttons and reply."""
        caps = await self.capabilities()
        view = self._read(request)
        request = view.request  # decrypted, for an encrypted request the tray can read
        body = await self._as_body(self._body(view))
        rid = request.id
        waits = request.kind != "notification"
        buttons, reply_field = self._actions(view, caps) if waits else ([], None)
        return Notification(
            title=self._title(view),
            message=body,
            urgency=Urgency.Normal if waits else Urgency.Low,
            buttons=tuple(buttons),
            reply_field=reply_field,
            on_clicked=lambda: self._opened(rid),
            thread=rid,
            timeout=0 if waits else -1,  # a question stays until answered; 0 = never expire
        )

    def _actions(
        self, view: Readable, caps: frozenset[Capability]
    ) -> tuple[list[Button], ReplyField | None]:
        """The buttons and reply field that answer a question (only "Open…" if unreadable)."""
        request = view.request
        rid = request.id
        if not view.readable:
            return [Button(OPEN_LABEL, on_pressed=lambda: self._opened(rid))], None
        if request.kind == "input" and request.choices:
            return self._choice_buttons(request), None
        if Capability.REPLY_FIELD in caps:
            reply_field = ReplyField(
                title=one_line(request.placeholder_text or "Reply", 40), button_title="Send",
                on_replied=lambda text: self._answered(rid, text),
            )
            return [], reply_field
        return [Button(REPLY_LABEL, on_pressed=lambda: self._opened(rid))], None

    def _title(self, view: Readable) -> str:
        """Return the notification title: the agent, "finished", the lock when sealed."""
        request = view.request
        title = visible_line(request.agent_name)
        if request.kind == "completion":
            title += " finished"
        return f"{LOCK} {title}" if view.sealed else title

    def _body(self, view: Readable) -> str:
        """Return the text of the notification, or why it cannot be read and what to do."""
        if not view.readable:
            return f"{view.marker}\n{view.detail}"
        if not view.bound:
            return f"({UNVERIFIED}) {view.request.prompt}"
        return view.request.prompt

    def _choice_buttons(self, request: HitlRequest) -> list[Button]:
        """One button per choice; past the limit, the last slot becomes "More…"."""
        rid = request.id
        choices = request.choices
        fits = len(choices) <= self._max_buttons
        shown = choices if fits else choices[: self._max_buttons - 1]
        buttons = [
            Button(one_line(choice, 40), on_pressed=self._answer_with(rid, choice))
            for choice in shown
        ]
        if not fits:
            buttons.append(Button(MORE_LABEL, on_pressed=lambda: self._opened(rid)))
        return buttons

    def _answer_with(self, request_id: str, choice: str) -> Callable[[], None]:
        """Return a button callback answering ``request_id`` with ``choice``."""
        return lambda: self._answered(request_id, choice)

    def _answered(self, request_id: str, text: str) -> None:
        """A button or the reply field answered the request."""
        self._call(self._on_answer, request_id, text)

    def _opened(self, request_id: str) -> None:
        """The body, "More…" or "Reply…" asks the app to open the request."""
        self._call(self._on_open, request_id)

    def _call(self, callback: Callable[..., Any], *args: str) -> None:
        """Run an app callback; schedule it as a task when it returns an awaitable."""
        try:
            result = callback(*args)
        except Exception:
            # Called from the DBus signal handler, a loop boundary: log, never raise into it.
            log.exception("notification callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Drop a finished callback task, logging its failure."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("notification callback failed", exc_info=task.exception())
