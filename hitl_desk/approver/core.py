"""``Approver``: one connection to the relay for an approver, whatever shows it.

After every (re)connect it ensures the desk key (until that worked once), loads the pending
snapshot (retrying with back-off while the stream stays up) and merges it with the events that
arrived meanwhile; the stream itself resumes with ``since``, so nothing is lost or doubled
across a drop or a relay restart.  Answers and cancels go over REST through ``RelayClient``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from hitl_desk.approver.snapshot import Snapshot, merge
from hitl_desk.client import EventStream, RelayClient, StreamState
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import HitlError, KeyMissingError
from hitl_desk.models import Event, HitlRequest
from hitl_desk.reading import NO_DESK_KEY, Readable, RequestReader
from hitl_desk.settings import Settings

log = logging.getLogger(__name__)

PENDING_LIMIT = 10_000
"""Most pending requests in a snapshot (the client reads them page by page)."""
RETRY_MAX = 2.0
"""Longest pause between attempts to reconnect to the relay."""
SYNC_RETRY_MAX = 5.0
"""Longest pause between attempts to load the snapshot while the stream stays connected."""


class ApproverView(Protocol):
    """What an approver shows; ``Approver.follow`` calls it on the event loop."""

    def on_state(self, state: StreamState) -> None:
        """The stream connected or dropped (``state.error`` says why)."""

    def on_event(self, event: Event) -> None:
        """A live event, in stream order (also while a snapshot loads)."""

    def on_snapshot(self, snapshot: Snapshot) -> Awaitable[None]:
        """The merged snapshot of a (re)connect; apply ``snapshot.pending`` before any await."""


class Approver:
    """Follows the relay for one view, reads each encrypted request once, answers and cancels.

    ``settings`` names the home that holds the desk key; without it this approver reads no
    encrypted request (and makes no key).
    """

    def __init__(self, client: RelayClient, settings: Settings | None = None, *,
                 retry_max: float = RETRY_MAX, sync_retry_max: float = SYNC_RETRY_MAX) -> None:
        self.client = client
        self.settings = settings
        self.reader = RequestReader(DeskEncryption.load(settings) if settings else None)
        """Every view shows requests through it: encrypted ones decrypted, once each."""
        self.desk_ensured = False
        """This approver holds the desk key and the relay serves it: not checked again."""
        self.mine: set[str] = set()
        """Requests this approver is closing: their close event is not news."""
        self.synced = asyncio.Event()
        """Set once the snapshot of the current connection is merged and shown."""
        self.stream: EventStream | None = None
        self.retry_max = retry_max
        self.sync_retry_max = sync_retry_max
        self._view: ApproverView | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._replay: list[Event] | None = None  # events that arrive while a snapshot loads

    # -- following ----------------------------------------------------------------------------

    async def follow(self, view: ApproverView) -> None:
        """Show the stream through ``view`` until cancelled; raises the error of a rejected
        credential (the stream retries everything else by itself)."""
        self._view = view
        self.stream = stream = self.client.event_stream()
        stream.retry_max = self.retry_max
        stream.on_state = self._on_state
        try:
            async for event in stream:
                if self._replay is not None:
                    self._replay.append(event)
                view.on_event(event)
                if event.type != "request.created":
                    self.mine.discard(event.request.id)
        finally:
            task, self._sync_task = self._sync_task, None
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _on_state(self, state: StreamState) -> None:
        assert self._view is not None
        if self._sync_task is not None:
            self._sync_task.cancel()
            self._sync_task = None
        if state.connected:
            self._sync_task = asyncio.get_running_loop().create_task(self._sync(self._view))
            self._sync_task.add_done_callback(_log_failure)
        else:
            self.synced.clear()
        self._view.on_state(state)

    async def _sync(self, view: ApproverView) -> None:
        """Ensure the desk key, load the snapshot, merge it with the replay, hand it over."""
        assert self.stream is not None
        self.synced.clear()
        await self.try_ensure_desk()
        self.reader.forget_failures()  # a key may have been trusted again since
        delay = 0.1
        while True:
            since = self.stream.last_seq or 0
            self._replay = []
            try:
                pending = await self.client.list_requests("pending", limit=PENDING_LIMIT)
                break
            except HitlError as exc:
                log.info("could not load the pending requests: %s", exc.message)
            finally:
                replay, self._replay = self._replay, None
            await asyncio.sleep(delay)  # back-off; a reconnect cancels this task and starts anew
            delay = min(delay * 2, self.sync_retry_max)
        await view.on_snapshot(Snapshot(merge(pending, replay), replay, since))
        self.synced.set()

    # -- the desk key -------------------------------------------------------------------------

    async def ensure_desk(self) -> None:
        """Make the desk key if no approver has (this is the first) and have the relay serve it.

        Where another approver made the key, this one stays unable to read until it gets the
        key by pairing (``DeskEncryption.ensure`` makes none then: a new one would lock out
        every agent that pinned the real one).  Raises what the relay or the key files raised.
        """
        if self.settings is None or self.desk_ensured:
            return
        desk = await DeskEncryption.ensure(self.client, self.settings)
        self.desk_ensured = desk.keys is not None
        self.reader.use(desk)

    async def try_ensure_desk(self) -> None:
        """``ensure_desk`` on a (re)connect: a failure is logged and tried on the next one."""
        try:
            await self.ensure_desk()
        except HitlError as exc:
            log.warning("desk key not ensured, trying again on the next connect: %s", exc.message)

    def view(self, request: HitlRequest) -> Readable:
        """The request as this approver shows it (an encrypted one opened once)."""
        return self.reader.view(request)

    # -- commands -----------------------------------------------------------------------------

    async def answer(self, request: HitlRequest, text: str) -> HitlRequest:
        """Answer ``request`` as the relay sent it: sealed to its agent when it is encrypted.

        Raises the error that kept an encrypted request from being read rather than answer
        something the human could not have seen (or send the relay a plaintext answer), and
        ``RequestClosedError`` if someone was first.
        """
        self.mine.add(request.id)
        try:
            if not request.encrypted:
                return await self.client.answer(request.id, text)
            shown = self.reader.view(request)
            if not shown.readable or self.reader.desk is None:
                raise shown.error or KeyMissingError(NO_DESK_KEY)
            return await self.reader.desk.answer(self.client, request, text)
        except HitlError:
            self.mine.discard(request.id)
            raise

    async def cancel(self, request_id: str) -> HitlRequest:
        """Cancel a pending request; the waiting agent gets ``cancelled``."""
        self.mine.add(request_id)
        try:
            return await self.client.cancel(request_id)
        except HitlError:
            self.mine.discard(request_id)
            raise


def _log_failure(task: asyncio.Task[None]) -> None:
    """Log a snapshot task that raised (a bug: every relay error is handled inside)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("loading the snapshot failed", exc_info=task.exception())
