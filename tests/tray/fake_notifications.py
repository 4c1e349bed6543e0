"""A real ``org.freedesktop.Notifications`` server on a test bus, written with dbus-fast.

It speaks the protocol of the freedesktop notification spec, records every call, and lets
the test play the user: invoke an action, reply inline, or close a notification. Signals go
out on the connection that owns the bus name, as desktop-notifier requires.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbus_fast import BusType, DBusError, ErrorType, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"

FULL_CAPABILITIES = ("actions", "body", "inline-reply")
"""What a KDE-like server advertises: buttons, a body and an inline reply field."""

NO_REPLY_CAPABILITIES = ("actions", "body")
"""What dunst-like servers advertise: buttons and a body, no inline reply."""

REASON_EXPIRED = 1
REASON_DISMISSED = 2
REASON_CLOSED = 3

StrList = Annotated[list[str], DBusSignature("as")]
Hints = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
ServerInfo = Annotated[tuple[str, str, str, str], DBusSignature("ssss")]
IdAndReason = Annotated[tuple[int, int], DBusSignature("uu")]
IdAndText = Annotated[tuple[int, str], DBusSignature("us")]
Void = Annotated[None, DBusSignature("")]


@dataclass(frozen=True)
class NotifyCall:
    """One ``Notify`` call as the server received it."""

    id: int
    app_name: str
    replaces_id: int
    app_icon: str
    summary: str
    body: str
    actions: tuple[str, ...]
    """Flat ``key, label, key, label, …`` list, as on the wire."""
    hints: dict[str, Any]
    """Hint values unwrapped from their variants."""
    expire_timeout: int

    @property
    def buttons(self) -> dict[str, str]:
        """Map action key to label (includes ``default`` and ``inline-reply`` when sent)."""
        return dict(zip(self.actions[::2], self.actions[1::2], strict=False))

    def key_for(self, label: str) -> str:
        """Return the action key of the button labelled ``label``."""
        for key, text in self.buttons.items():
            if text == label:
                return key
        raise KeyError(f"no button labelled {label!r} in {self.buttons}")


@dataclass
class _Record:
    """Everything the server saw."""

    notifies: list[NotifyCall] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    """Ids passed to ``CloseNotification``."""
    open_ids: set[int] = field(default_factory=set)


class _NotificationsInterface(ServiceInterface):
    """The exported DBus interface; state lives in the owning ``FakeNotificationServer``."""

    def __init__(self, server: FakeNotificationServer) -> None:
        super().__init__(BUS_NAME)
        self._server = server

    @dbus_method()
    def GetCapabilities(self) -> StrList:
        return list(self._server.capabilities)

    @dbus_method()
    def Notify(
        self, app_name: DBusStr, replaces_id: DBusUInt32, app_icon: DBusStr,
        summary: DBusStr, body: DBusStr, actions: StrList, hints: Hints,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        nid = replaces_id if replaces_id in self._server.record.open_ids else self._server.next_id()
        call = NotifyCall(
            nid, app_name, replaces_id, app_icon, summary, body, tuple(actions),
            {key: value.value for key, value in hints.items()}, expire_timeout,
        )
        self._server.record.open_ids.add(nid)
        self._server.record.notifies.append(call)
        self._server.notify_waiters()
        return nid

    @dbus_method()
    def CloseNotification(self, id: DBusUInt32) -> Void:
        record = self._server.record
        record.closes.append(id)
        self._server.notify_waiters()
        if id not in record.open_ids:
            # The spec answers an unknown id with an (empty) error.
            raise DBusError(ErrorType.FAILED, f"no notification {id}")
        record.open_ids.discard(id)
        self.NotificationClosed(id, REASON_CLOSED)

    @dbus_method()
    def GetServerInformation(self) -> ServerInfo:
        return ("hitl-fake-notifications", "hitl-desk tests", "1.0", "1.2")

    @dbus_signal()
    def NotificationClosed(self, id: int, reason: int) -> IdAndReason:
        return (id, reason)

    @dbus_signal()
    def ActionInvoked(self, id: int, action_key: str) -> IdAndText:
        return (id, action_key)

    @dbus_signal()
    def NotificationReplied(self, id: int, text: str) -> IdAndText:
        return (id, text)


class FakeNotificationServer:
    """A notification server the test controls; start it with ``FakeNotificationServer.run``."""

    def __init__(self, capabilities: Iterable[str] = FULL_CAPABILITIES) -> None:
        self.capabilities: tuple[str, ...] = tuple(capabilities)
        self.record = _Record()
        self._ids = itertools.count(1)
        self._interface = _NotificationsInterface(self)
        self._changed = asyncio.Event()

    @classmethod
    @asynccontextmanager
    async def run(
        cls, bus_address: str, capabilities: Iterable[str] = FULL_CAPABILITIES
    ) -> AsyncIterator[FakeNotificationServer]:
        """Own ``org.freedesktop.Notifications`` on the bus at ``bus_address`` while in use."""
        server = cls(capabilities)
        bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SESSION).connect()
        try:
            bus.export(OBJECT_PATH, server._interface)
            reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
            if reply != RequestNameReply.PRIMARY_OWNER:
                raise RuntimeError(f"could not own {BUS_NAME}: {reply}")
            yield server
        finally:
            bus.disconnect()
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    def next_id(self) -> int:
        """Hand out the next notification id (never 0, as the spec demands)."""
        return next(self._ids)

    def notify_waiters(self) -> None:
        """Wake every ``wait_for_*`` call so it rechecks its condition."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait(self, check: Callable[[], Any], timeout: float) -> Any:
        """Wait until ``check()`` returns something truthy; return it."""
        async with asyncio.timeout(timeout):
            while not (result := check()):
                await self._changed.wait()
            return result

    @property
    def notifies(self) -> list[NotifyCall]:
        """Every ``Notify`` call so far, oldest first."""
        return list(self.record.notifies)

    @property
    def open_ids(self) -> set[int]:
        """Ids of the notifications currently shown."""
        return set(self.record.open_ids)

    async def wait_for_notify(
        self, predicate: Callable[[NotifyCall], bool] = lambda call: True, timeout: float = 5.0
    ) -> NotifyCall:
        """Return the first ``Notify`` call matching ``predicate``, waiting for it if needed."""
        def first() -> NotifyCall | None:
            return next((c for c in self.record.notifies if predicate(c)), None)

        result: NotifyCall = await self._wait(first, timeout)
        return result

    async def wait_for_close(self, nid: int, timeout: float = 5.0) -> None:
        """Wait until a client called ``CloseNotification`` for ``nid``."""
        await self._wait(lambda: nid in self.record.closes, timeout)

    def invoke_action(self, nid: int, action_key: str, *, close: bool = True) -> None:
        """Play a click on a button (or the body, with ``"default"``), as dunst does."""
        self._interface.ActionInvoked(nid, action_key)
        if close:
            self.close(nid, REASON_DISMISSED)

    def reply(self, nid: int, text: str) -> None:
        """Play an inline reply typed by the user."""
        self._interface.NotificationReplied(nid, text)
        self.close(nid, REASON_DISMISSED)

    def close(self, nid: int, reason: int = REASON_DISMISSED) -> None:
        """Close a notification from the server side and emit ``NotificationClosed``."""
        self.record.open_ids.discard(nid)
        self._interface.NotificationClosed(nid, reason)
