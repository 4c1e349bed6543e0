"""The approver's one connection to the relay: follows the event stream, keeps ``DeskState``.

After every (re)connect it fetches the pending snapshot and merges it with the events that
arrive meanwhile; the stream itself resumes with ``since``, so nothing is missed across a drop
or a relay restart.  Commands (answer, cancel, keys...) go over REST through ``RelayClient``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from textual.message import Message

from hitl_desk.client import RelayClient, StreamState
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import HitlError, KeyMissingError, RelayUnavailableError
from hitl_desk.models import Agent, ApiKeyCreated, ApiKeyInfo, HitlRequest
from hitl_desk.reading import NO_DESK_KEY, RequestReader
from hitl_desk.settings import Settings
from tui.messages import (
    ConnectionChanged,
    DirectoryChanged,
    FeedChanged,
    HistoryChanged,
    KeyCreated,
    QueueChanged,
    RequestClosed,
)
from tui.state import FEED_LIMIT, HISTORY_LIMIT, DeskState

log = logging.getLogger(__name__)
PENDING_LIMIT = 10_000  # most pending requests loaded at once (the client reads them page by page)
RETRY_MAX = 1.0
FREEZE_AT = 1000
"""From this many pending requests on, a sync moves what is alive into the GC's permanent
generation: otherwise every full collection scans each request model again (~100 ms pauses
at 10,000).  Refcounting still frees them once they leave the queue."""


class DeskLink:
    """Relay access for the UI; ``client=None`` is offline (snapshots show given state).

    ``settings`` names the home that holds the desk key; without it this approver reads no
    encrypted request (and makes no key).
    """

    def __init__(self, client: RelayClient | None, state: DeskState,
                 post: Callable[[Message], object], url: str | None = None,
                 settings: Settings | None = None) -> None:
        self.client = client
        self.state = state
        self.post = post
        self.url = url or (client.base_url if client else "")
        self.settings = settings
        self.reader = RequestReader(DeskEncryption.load(settings) if settings else None)
        """Every screen shows requests through it: encrypted ones decrypted, once each."""
        self.desk_ensured = False
        """This approver holds the desk key and the relay serves it: not checked again."""
        self.mine: set[str] = set()
        """Requests this approver is closing: their close event is not news."""
        self.synced = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the relay, for the status bar."""
        parts = urlsplit(self.url)
        return parts.netloc or self.url

    def _require(self) -> RelayClient:
        if self.client is None:
            raise RelayUnavailableError("Not connected to a relay.")
        return self.client

    # -- following ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow events forever (until cancelled); a rejected credential ends it."""
        client = self._require()
        stream = client.event_stream()
        stream.retry_max = RETRY_MAX
        stream.on_state = self._on_stream_state
        try:
            async for event in stream:
                closed = self.state.apply(event)
                if closed is not None:
                    elsewhere = closed.id not in self.mine
                    self.mine.discard(closed.id)
                    self.post(RequestClosed(closed, elsewhere))
                if event.request.kind in ("notification", "completion"):
                    self.post(FeedChanged())
                if event.type != "request.created":
                    self.post(HistoryChanged())
                self.post(QueueChanged())
        except HitlError as exc:  # 401/403: the stream gave up; say why
            self._on_stream_state(StreamState(False, stream.last_seq, exc.message))
        finally:
            if self._sync_task is not None:
                self._sync_task.cancel()

    def _on_stream_state(self, state: StreamState) -> None:
        self.state.connection = state
        self.post(ConnectionChanged(state.connected, state.last_seq, state.error))
        if state.connected:
            if self._sync_task is not None:
                self._sync_task.cancel()
            self._sync_task = asyncio.get_running_loop().create_task(self.sync())

    async def sync(self) -> None:
        """Fetch the pending snapshot, the feed and the keys, and merge them into the state."""
        client = self._require()
        self.synced.clear()
        await self.ensure_desk()
        self.reader.forget_failures()
        self.state.begin_sync()
        try:
            pending = await client.list_requests("pending", limit=PENDING_LIMIT)
            feed = await client.list_requests(kind="notification", limit=FEED_LIMIT, newest_first=True)
            feed += await client.list_requests(kind="completion", limit=FEED_LIMIT, newest_first=True)
            keys = await client.list_api_keys()
        except HitlError as exc:  # the next reconnect syncs again
            log.info("sync failed: %s", exc.message)
            return
        for request in self.state.finish_sync(pending, feed):
            self.post(RequestClosed(request, elsewhere=request.id not in self.mine))
        self.state.keys, self.state.keys_loaded = keys, True
        if len(self.state.pending) >= FREEZE_AT:
            gc.freeze()
        self.post(QueueChanged())
        self.post(FeedChanged())
        self.post(DirectoryChanged())
        self.synced.set()

    async def ensure_desk(self) -> None:
        """Make the desk key if no approver has (this is the first) and have the relay serve it.

        Tried on every (re)connect until it worked once: a relay that was down at start gets
        the key when it is back. Where another approver made the key, this one stays unable to
        read until it gets the key by pairing (``DeskEncryption.ensure`` makes none then).
        """
        if self.settings is None or self.desk_ensured:
            return
        client = self._require()
        try:
            desk = await DeskEncryption.ensure(client, self.settings)
        except HitlError as exc:
            log.warning("desk key not ensured, trying again on the next connect: %s", exc.message)
            return
        self.desk_ensured = desk.keys is not None
        self.reader.use(desk)

    # -- commands -----------------------------------------------------------------------------

    async def answer(self, request: HitlRequest, text: str) -> HitlRequest:
        """Answer a pending request (raises ``RequestClosedError`` if someone was first).

        ``request`` is the one the relay sent: an encrypted request's answer is sealed to its
        agent's key, so the text never reaches the relay.
        """
        client = self._require()
        self.mine.add(request.id)
        try:
            if not request.encrypted:
                return await client.answer(request.id, text)
            if self.reader.desk is None:
                raise KeyMissingError(NO_DESK_KEY)
            return await self.reader.desk.answer(client, request, text)
        except HitlError:
            self.mine.discard(request.id)
            raise

    async def cancel(self, request_id: str) -> HitlRequest:
        """Cancel a pending request; the waiting agent gets ``cancelled``."""
        client = self._require()
        self.mine.add(request_id)
        try:
            return await client.cancel(request_id)
        except HitlError:
            self.mine.discard(request_id)
            raise

    async def load_history(self) -> None:
        """Fetch answered, expired and cancelled requests."""
        client = self._require()
        found: list[HitlRequest] = []
        for status in ("answered", "expired", "cancelled"):
            found += await client.list_requests(status, limit=HISTORY_LIMIT, newest_first=True)
        self.state.set_history(r for r in found if r.kind != "notification")
        self.post(HistoryChanged())

    async def load_directory(self) -> None:
        """Fetch agents and API keys."""
        client = self._require()
        agents: list[Agent] = await client.list_agents()
        keys: list[ApiKeyInfo] = await client.list_api_keys()
        self.state.agents = sorted(agents, key=lambda a: a.name.lower())
        self.state.keys, self.state.keys_loaded = keys, True
        self.post(DirectoryChanged())

    async def create_agent(self, name: str) -> Agent:
        """Register an agent by name."""
        agent = await self._require().create_agent(name)
        await self.load_directory()
        return agent

    async def create_key(self, agent_name: str, label: str | None = None) -> ApiKeyCreated:
        """Mint an API key for an agent (created if new); the secret is in the returned model only."""
        created = await self._require().create_api_key(agent_name, label)
        await self.load_directory()
        self.post(KeyCreated(created))
        return created

    async def revoke_key(self, prefix: str) -> ApiKeyInfo:
        """Revoke an API key by its prefix."""
        revoked = await self._require().revoke_api_key(prefix)
        await self.load_directory()
        return revoked
