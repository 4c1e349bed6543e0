"""When to wake the phone: at once, or once a request has waited ``after`` seconds unanswered.

``Escalation`` follows the bus.  A new pending question or completion report arms one timer
(or pushes at once when ``after`` is 0); its answer, expiry or cancellation disarms it, so a
request closed in time sends nothing.  Timers are this relay's own ``call_later`` handles, as
``relay.expiry`` keeps them; they are dropped when the relay stops, and a restarted relay arms
the rest of each pending request's delay (``resume``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from hitl_desk.models import Event, HitlRequest
from relay.broker import Broker
from relay.context import BROKER, BUS, CONFIG
from relay.lan import lan_listener
from relay.push.ntfy import NtfyPublisher, push_message
from relay.push.target import NtfyTarget

APP_PATH = "/"
"""Where the LAN listener serves the phone app (the push's ``click`` link)."""
_CLOSING = frozenset({"request.answered", "request.expired", "request.cancelled"})


class Escalation:
    """Turns bus events into pushes, each at its time."""

    def __init__(self, target: NtfyTarget, publisher: NtfyPublisher, click: Callable[[], str | None]) -> None:
        self.target = target
        self.publisher = publisher
        self._click = click
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
        """Arm the rest of the delay of requests left pending by a restart (those past it were pushed
        before).  Call once listening: a request created meanwhile is in the pages or the events."""
        self._closed = set()
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
            left = request.created_at.timestamp() + self.target.after - now
            closed = self._closed is not None and request.id in self._closed  # a stale page must not re-arm it
            if request.kind != "notification" and left > 0 and request.id not in self._timers and not closed:
                self._arm(request, left)

    def _arm(self, request: HitlRequest, delay: float) -> None:
        self._timers[request.id] = asyncio.get_running_loop().call_later(delay, self._fire, request)

    def _fire(self, request: HitlRequest) -> None:
        if self._timers.pop(request.id, None) is not None:
            self._push(request)

    def _push(self, request: HitlRequest) -> None:
        self.publisher.offer(push_message(self.target, request.agent_name, self._click(),
                                          urgent=request.kind != "notification"))

    def stop(self) -> None:
        """Drop every armed timer."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


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
    escalation = Escalation(target, publisher, _phone_link(app))
    app[PUSH] = escalation
    unlisten = app[BUS].listen(escalation.on_event)
    if target.after > 0:
        await escalation.resume(app[BROKER])
    try:
        yield
    finally:
        unlisten()
        escalation.stop()
        await publisher.stop()
