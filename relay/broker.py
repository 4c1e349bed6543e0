"""The broker: the one place where a request is created, answered, expired or cancelled.

REST, MCP and WebSocket handlers parse their input into a wire model, call the broker and
return what it returns; routes reach the store only through it (or through auth for agents and
API keys).  It depends on the ``Store`` and ``Bus`` protocols, not on an engine.

Waiting agents hold only a future keyed by request id, resolved from the bus event of the
request's closing, not by whoever closed it: on a shared bus an answer given on relay A reaches
an agent waiting on relay B.  The request itself is in the store, so a relay restart loses
nothing: ``start()`` claims the orphaned expiry timers (``relay.expiry``) and waiting clients
resume by id.

An agent that leaves withdraws its question: when a caller blocked on a request hangs up (or
the relay restarts under it), the request stays pending for ``leave_grace`` seconds so the
caller can come back by id; if nobody waits on it by then, it is cancelled as ``agent_left``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from hitl_desk.action import ALLOW_ONCE, ALWAYS_ALLOW, ToolAction
from hitl_desk.errors import (
    AlreadyAnsweredError,
    InvalidRequestError,
    KeyMissingError,
    RequestCancelledError,
    RequestClosedError,
    RequestExpiredError,
    RequestNotFoundError,
)
from hitl_desk.models import (
    MAX_TIMEOUT_SECONDS,
    Agent,
    CancelReason,
    CompletionCreate,
    EncryptedCreate,
    Event,
    HitlRequest,
    InputRequestCreate,
    Kind,
    NotificationCreate,
    new_request_id,
)
from hitl_desk.rules import RULE_ANSWER_PREFIX, Rule, rule_of
from relay.bus import Bus
from relay.expiry import DEFAULT_TIMER_LEASE, ExpiryTimers
from relay.metrics import Metrics
from relay.rules import RuleBook
from relay.store import ClaimedTimer, Store

log = logging.getLogger(__name__)
DEFAULT_MAX_PENDING = 100
"""Pending requests one agent may have at once (``hitl-desk relay --max-pending``)."""
DEFAULT_LEAVE_GRACE = 30.0
"""Seconds a request whose blocked caller hung up stays pending for that caller to come back."""
DESK_KEY_ID = "desk"
"""The entity id of the one desk (user) key: every approver device shares it through pairing."""

_CLOSING_EVENTS = frozenset({"request.answered", "request.expired", "request.cancelled"})
_CLOSED_ERRORS: dict[str, type[RequestClosedError]] = {
    "answered": AlreadyAnsweredError,
    "expired": RequestExpiredError,
    "cancelled": RequestCancelledError,
}


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Broker:
    """Owns the request lifecycle: pending → answered | expired | cancelled."""

    def __init__(self, store: Store, bus: Bus, metrics: Metrics, *,
                 max_timeout: float = MAX_TIMEOUT_SECONDS, max_pending: int | None = DEFAULT_MAX_PENDING,
                 leave_grace: float = DEFAULT_LEAVE_GRACE, timer_lease: float = DEFAULT_TIMER_LEASE,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bus = bus
        self.metrics = metrics
        self.max_timeout = max_timeout
        self.max_pending = max_pending
        self.leave_grace = leave_grace
        self.clock = clock
        self._waiters: dict[str, set[asyncio.Future[HitlRequest]]] = {}
        self.timers = ExpiryTimers(store, self._expire, self._claimed, lease=timer_lease, clock=clock)
        self.rules = RuleBook(store, clock)
        self._unlisten: Callable[[], None] | None = None
        self._leaving: dict[str, asyncio.TimerHandle] = {}
        self._attended: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    async def start(self) -> None:
        """Follow the bus, then claim the expiry of every request whose relay is gone (all of them
        after a restart), giving the callers that were blocked on one ``leave_grace`` seconds to
        come back."""
        self._unlisten = self.bus.listen(self._on_event)
        self.metrics.pending.set(await self.store.count_requests("pending"))
        await self.timers.start()

    def _claimed(self, claimed: ClaimedTimer) -> None:
        if claimed.attended:
            self._attended.add(claimed.request.id)
            self.caller_left(claimed.request.id)

    async def stop(self) -> None:
        """Disarm timers and hand them back; waiting clients will resume against the next relay."""
        self._stopped = True  # callers cut off by the shutdown get their grace after the restart
        if self._unlisten is not None:
            self._unlisten()
        for handle in self._leaving.values():
            handle.cancel()
        self._leaving.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.timers.stop()

    # -- creating -----------------------------------------------------------------------------

    async def create_input(self, agent: Agent, body: InputRequestCreate, *, attended: bool = False) -> HitlRequest:
        """Accept a question; it is committed before this returns.

        ``attended``: the caller blocks on the answer, so the request is withdrawn if it leaves.
        An approval (``body.action``) that an always-allow rule matches is answered "Allow once"
        by that rule as it is stored: recorded, never shown as pending.
        """
        rule = None if body.action is None else await self.rules.match(agent.id, body.action)
        return await self._create(agent, "input", body.prompt, body.timeout_seconds, attended=attended,
                                  choices=body.choices or [], placeholder_text=body.placeholder_text,
                                  default_answer=body.default_answer, action=body.action, rule=rule)

    async def create_completion(self, agent: Agent, body: CompletionCreate, *,
                                attended: bool = False) -> HitlRequest:
        """Accept a finished-task report that waits for the human's reply."""
        return await self._create(agent, "completion", body.summary, body.timeout_seconds, attended=attended,
                                  default_answer=body.default_answer)

    async def notify(self, agent: Agent, body: NotificationCreate) -> HitlRequest:
        """Deliver a fire-and-forget notification."""
        return await self._create(agent, "notification", body.message, None)

    async def create_encrypted(self, agent: Agent, kind: Kind, body: EncryptedCreate,
                               channel: Literal["rest", "mcp"], *, attended: bool = False) -> HitlRequest:
        """Accept an end-to-end encrypted request: the relay keeps only the envelope."""
        if await self.desk_key() is None:
            raise KeyMissingError("No desk key is registered: open an approver (hitl-desk tui) once.")
        agent_key = await self.store.public_key("agent", agent.id)
        if agent_key is None:
            raise KeyMissingError(f"Agent {agent.name!r} has no public key: register one with "
                                  "POST /api/v1/keys/register before sending encrypted requests.")
        return await self._create(agent, kind, "", body.timeout_seconds, request_id=body.request_id,
                                  attended=attended and kind != "notification",
                                  encrypted_payload=body.encrypted_payload, agent_public_key=agent_key,
                                  channel=channel)

    async def _create(self, agent: Agent, kind: Kind, prompt: str, timeout: float | None, *,
                      choices: list[str] | None = None, placeholder_text: str | None = None,
                      default_answer: str | None = None, request_id: str | None = None,
                      attended: bool = False, action: ToolAction | None = None, rule: Rule | None = None,
                      **encryption: str | None) -> HitlRequest:
        now = self.clock()
        notification = kind == "notification"
        final = notification or rule is not None
        wait = min(timeout or self.max_timeout, self.max_timeout)
        request = HitlRequest.model_validate(dict(
            id=request_id or new_request_id(), kind=kind,
            status="delivered" if notification else "answered" if rule else "pending",
            agent_id=agent.id, agent_name=agent.name, prompt=prompt, choices=choices or [],
            placeholder_text=placeholder_text, default_answer=default_answer, action=action,
            response=ALLOW_ONCE if rule else None, answered_by=f"{RULE_ANSWER_PREFIX}{rule.id}" if rule else None,
            created_at=_utc(now), expires_at=None if notification else _utc(now + wait),
            closed_at=_utc(now) if final else None, **encryption))
        attended = attended and not final
        event = await self.store.insert_request(request, now, max_pending=self.max_pending, attended=attended,
                                                timer_owner=None if final else self.timers.relay_id)
        if attended:
            self._attended.add(request.id)
        self.metrics.count_created(kind)
        if rule is not None:
            self.metrics.answered.inc()
        elif not notification:
            self.timers.arm(request)
        await self.bus.publish(event)
        return request

    # -- closing ------------------------------------------------------------------------------

    async def answer(self, request_id: str, response: str | None, answered_by: str, *,
                     encrypted_response: str | None = None, via: str | None = None) -> HitlRequest:
        """Answer a pending request; exactly one answer wins, the others get 409.

        An encrypted request takes only ``encrypted_response``, a plain one only ``response``.
        "Always allow" on an approval also stores the exact rule for its agent, tool and argument,
        in the answer's own transaction.  ``via``: the approver program, for the audit log.
        """
        new_rule = None
        if response == ALWAYS_ALLOW:
            current = await self.store.get_request(request_id)
            new_rule = None if current is None else self.rules.always_allow(current, answered_by)
        return await self._close(request_id, "answered", response, answered_by,
                                 encrypted_response=encrypted_response, via=via, new_rule=new_rule)

    async def cancel(self, request_id: str, cancelled_by: str | None, reason: CancelReason) -> HitlRequest:
        """Withdraw a pending request, saying why (the agent left or gave up, or a human dismissed it)."""
        return await self._close(request_id, "cancelled", None, cancelled_by, cancel_reason=reason)

    async def _close(self, request_id: str, status: str, response: str | None,
                     by: str | None, *, encrypted_response: str | None = None,
                     cancel_reason: CancelReason | None = None, via: str | None = None,
                     new_rule: Rule | None = None) -> HitlRequest:
        closed = await self.store.close_request(request_id, status, response, by, self.clock(),
                                                encrypted_response=encrypted_response,
                                                encrypted=(None if status != "answered"
                                                           else encrypted_response is not None),
                                                cancel_reason=cancel_reason, via=via, new_rule=new_rule)
        if closed is None:
            current = await self.store.get_request(request_id)
            if current is None:
                raise RequestNotFoundError(f"No request has the id {request_id!r}.")
            if current.status == "pending":
                raise InvalidRequestError("An encrypted request takes an encrypted_response, a plain one a response."
                                          if current.encrypted else "This request is not encrypted: send response.")
            error = _CLOSED_ERRORS.get(current.status, RequestClosedError)
            if current.status == "delivered":
                raise RequestClosedError("A notification takes no answer.")
            raise error(f"Request {request_id} is {current.status}.")
        request, event = closed
        getattr(self.metrics, status).inc()
        await self.bus.publish(event)  # wakes the waiters, here and on every relay sharing the bus
        return request

    async def _expire(self, request_id: str) -> None:
        request = await self.store.get_request(request_id)
        if request is None or request.status != "pending":
            return
        await self._close(request_id, "expired", request.default_answer, None)

    def _on_event(self, event: Event) -> None:
        """Follow every request's life from the bus, whichever relay changed it."""
        if event.type == "request.created" and event.request.status == "pending":
            self.metrics.pending.inc()
        elif event.type in _CLOSING_EVENTS:
            self._finish(event.request)

    def _finish(self, request: HitlRequest) -> None:
        self.timers.disarm(request.id)
        handle = self._leaving.pop(request.id, None)
        if handle is not None:
            handle.cancel()
        self._attended.discard(request.id)
        if rule_of(request.answered_by) is None:  # a rule answers as the request arrives: never pending
            self.metrics.pending.dec()
        for future in self._waiters.pop(request.id, ()):
            if not future.done():
                future.set_result(request)

    # -- reading ------------------------------------------------------------------------------

    async def get(self, request_id: str) -> HitlRequest:
        """The request's current state."""
        request = await self.store.get_request(request_id)
        if request is None:
            raise RequestNotFoundError(f"No request has the id {request_id!r}.")
        return request

    async def page(self, status: str | None = None, *, kind: str | None = None, agent_id: str | None = None,
                   limit: int = 100, after: int | None = None,
                   newest_first: bool = False) -> tuple[list[HitlRequest], int | None]:
        """One page of requests and the key of the next one (``Store.page_requests``)."""
        return await self.store.page_requests(status, kind=kind, agent_id=agent_id, limit=limit, after=after,
                                              newest_first=newest_first)

    async def pending_count(self) -> int:
        """How many requests wait for an answer, on every relay sharing the store."""
        return await self.store.count_requests("pending")

    async def storage_ok(self) -> bool:
        """Whether the store can write (after a full disk, a probe write tells when space is back)."""
        return not self.store.storage_full or await self.store.probe_storage()

    async def last_seq(self) -> int:
        """The newest event's sequence number."""
        return await self.store.last_seq()

    async def register_key(self, entity_type: str, entity_id: str, public_key: str) -> None:
        """Register or replace the desk's or an agent's public key."""
        await self.store.set_public_key(entity_type, entity_id, public_key, self.clock())

    async def desk_key(self) -> str | None:
        """The desk's public key, if an approver registered one."""
        return await self.store.public_key("user", DESK_KEY_ID)

    async def wait(self, request_id: str, timeout: float | None, *, current: HitlRequest | None = None,
                   attend: bool = False, gone: asyncio.Future[None] | None = None) -> HitlRequest:
        """The request once it is final, or its current state after ``timeout`` seconds.

        ``current`` is a state the caller read or created itself after the last await (no
        answer can have been missed since), which saves reading the store again.  A waiter
        keeps a request whose caller left; ``attend`` also records that a caller blocks on it,
        so it is withdrawn if that caller leaves (``caller_left``) and does not come back.
        ``gone``: once it completes (the caller hung up), the wait ends in ``CancelledError``.
        """
        future: asyncio.Future[HitlRequest] = asyncio.get_running_loop().create_future()
        if gone is not None:
            gone.add_done_callback(lambda _: future.cancel())
        waiters = self._waiters.setdefault(request_id, set())
        waiters.add(future)  # registered before reading, so no answer can slip in between
        leaving = self._leaving.pop(request_id, None)
        if leaving is not None:  # the caller came back in time
            leaving.cancel()
        try:
            request = current if current is not None else await self.get(request_id)
            if request.is_final or (timeout is not None and timeout <= 0):
                return request
            if attend and request_id not in self._attended:
                self._attended.add(request_id)
                await self.store.mark_attended(request_id)
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                return await self.get(request_id)
        finally:
            waiters.discard(future)
            if not waiters and self._waiters.get(request_id) is waiters:
                del self._waiters[request_id]

    # -- callers that leave -------------------------------------------------------------------

    def caller_left(self, request_id: str) -> None:
        """A caller blocked on the request hung up: withdraw it unless a waiter comes back in the grace."""
        if (self._stopped or request_id in self._leaving or self._waiters.get(request_id)
                or request_id not in self._attended):
            return
        loop = asyncio.get_running_loop()
        self._leaving[request_id] = loop.call_later(self.leave_grace, self._spawn_withdrawal, request_id)

    def _spawn_withdrawal(self, request_id: str) -> None:
        self._leaving.pop(request_id, None)
        if self._waiters.get(request_id):
            return  # somebody waits on it again
        task = asyncio.get_running_loop().create_task(self._withdraw_logged(request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _withdraw_logged(self, request_id: str) -> None:
        try:
            await self.cancel(request_id, None, "agent_left")
            log.info("withdrew %s: its agent left and did not come back in %.0f s", request_id, self.leave_grace)
        except RequestClosedError:
            pass  # answered, expired or cancelled meanwhile: nothing to withdraw
        except Exception:  # loop boundary: a failed withdrawal must not kill the timer machinery
            log.exception("withdrawing %s failed", request_id)

    @property
    def pending_waiters(self) -> int:
        """How many clients are blocked on an answer right now."""
        return sum(len(w) for w in self._waiters.values())
