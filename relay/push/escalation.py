"""When to wake the phone: at once, or once a request has waited ``after`` seconds unanswered.

``Escalation`` follows the bus.  A new pending question or completion report arms one timer
(or pushes at once when ``after`` is 0); its answer, expiry or cancellation disarms it, so a
request closed in time sends nothing.  Timers are this relay's own ``call_later`` handles, as
``relay.expiry`` keeps them; they are dropped when the relay stops, and a restarted relay arms
the rest of each pending request's delay (``resume``).

Every question waits the same delay, so questions are pushed in the order they were asked: the
store keeps the creation time of the newest one pushed (``PUSHED_THROUGH``).  A restarted relay
pushes at once a pending question whose delay ended while it was down, and never one pushed
before (one whose push was offered just before a crash may go twice: better than never).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from hitl_desk.models import Event, HitlRequest
from relay.broker import Broker
from relay.context import BROKER, BUS, CONFIG
from relay.lan import lan_listener
from relay.push.ntfy import NtfyPublisher, push_message
from relay.push.target import NtfyTarget
from relay.store import Store

log = logging.getLogger(__name__)
APP_PATH = "/"
"""Where the LAN listener serves the phone app (the push's ``click`` link)."""
_CLOSING = frozenset({"request.answered", "request.expired", "request.cancelled"})
PUSHED_THROUGH = "push_pushed_through"
"""Meta key: the creation time (epoch seconds) of the newest question pushed."""


class Escalation:
    """Turns bus events into pushes, each at its time."""

    def __init__(self, target: NtfyTarget, publisher: NtfyPublisher, click: Callable[[], str | None],
                 store: Store) -> None:
        self.target = target
        self.publisher = publisher
        self._click = click
        self._store = store
        self._pushed_through = 0.0
        self._saving: set[asyncio.Task[None]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._closed: set[str] | None = None
        """While resuming: ids closed since listening began, which a stale page must not re-arm."""

    @property
    def waiting(self) -> frozenset[str]:
        """Ids of the requests whose push waits for the escalation delay."""
        return frozenset(self._timers)

    def on_event(self, event: Event) -> None:
        """Arm, fire or disarm from one bus event (called in the loop; never blocks)."""
        request = event.request
        if event.type in _CLOSING:
            if self._closed is not None:
                self._closed.add(request.id)
            handle = self._timers.pop(request.id, None)
            if handle is not None:
                handle.cancel()
        elif event.type == "request.created":
            if request.kind == "notification":
                if self.target.notifications:
                    self._push(request)
            elif request.status == "pending":  # not one an always-allow rule answered as it came
                if self.target.after <= 0:
                    self._push(request)
                else:
                    self._arm(request, self.target.after)

    async def resume(self, broker: Broker) -> None:
        """Arm the rest of the delay of requests left pending by a restart, and push those past it
        that were not pushed before (``PUSHED_THROUGH``).  Call once listening: a request created
        meanwhile is in the pages or the events."""
        self._closed = set()
        self._pushed_through = max(self._pushed_through, float(await self._store.get_meta(PUSHED_THROUGH) or 0))
        after: int | None = None
        try:
            while True:
                page, after = await broker.page("pending", limit=500, after=after)
                self._arm_rest(page, broker.clock())
                if after is None:
                    return
        finally:
            self._closed = None

    def _arm_rest(self, pending: list[HitlRequest], now: float) -> None:
        for request in pending:
            created = request.created_at.timestamp()
            left = created + self.target.after - now
            closed = self._closed is not None and request.id in self._closed  # a stale page must not re-arm it
            if request.kind == "notification" or request.id in self._timers or closed:
                continue
            if left > 0:
                self._arm(request, left)
            elif created > self._pushed_through:  # its delay ended while the relay was down
                self._push(request)

    def _arm(self, request: HitlRequest, delay: float) -> None:
        self._timers[request.id] = asyncio.get_running_loop().call_later(delay, self._fire, request)

    def _fire(self, request: HitlRequest) -> None:
        if self._timers.pop(request.id, None) is not None:
            self._push(request)

    def _push(self, request: HitlRequest) -> None:
        urgent = request.kind != "notification"
        self.publisher.offer(push_message(self.target, request.agent_name, self._click(), urgent=urgent))
        created = request.created_at.timestamp()
        if urgent and created > self._pushed_through:
            self._pushed_through = created
            task = asyncio.get_running_loop().create_task(self._record(created))
            self._saving.add(task)
            task.add_done_callback(self._saving.discard)

    async def _record(self, created: float) -> None:
        try:
            await self._store.set_meta(PUSHED_THROUGH, repr(created))
        except Exception:  # loop boundary: a full disk may cost a second push after a restart, no more
            log.warning("could not record the push of a question created at %s", created, exc_info=True)

    async def stop(self) -> None:
        """Drop every armed timer; finish recording what was pushed."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await asyncio.gather(*self._saving, return_exceptions=True)


PUSH: web.AppKey[Escalation] = web.AppKey("push", Escalation)


def setup_push(app: web.Application) -> None:
    """Wake the phone through ntfy when the config names a server; call after the LAN's setup."""
    app.cleanup_ctx.append(_push_lifecycle)


def _phone_link(app: web.Application) -> Callable[[], str | None]:
    def link() -> str | None:
        listener = lan_listener(app)  # the one running now: the TUI may have switched it on or off since
        urls = listener.urls if listener is not None else []
        return urls[0] + APP_PATH if urls else None  # no LAN mode: the phone has nothing to open

    return link


async def _push_lifecycle(app: web.Application) -> AsyncIterator[None]:
    target = app[CONFIG].ntfy
    if target is None:
        yield
        return
    publisher = NtfyPublisher(target)
    await publisher.start()
    escalation = Escalation(target, publisher, _phone_link(app), app[BROKER].store)
    app[PUSH] = escalation
    unlisten = app[BUS].listen(escalation.on_event)
    if target.after > 0:
        await escalation.resume(app[BROKER])
    try:
        yield
    finally:
        unlisten()
        await escalation.stop()
        await publisher.stop()
