"""The TUI's view over the approver core: posts Textual messages as ``DeskState`` changes.

Following the stream, merging the snapshot of each (re)connect with the replayed events, the
desk key, reading and answering live in ``hitl_desk.approver.Approver``; this module turns what
it hands over into ``DeskState`` and messages, and adds what only the TUI shows (the feed,
history, agents and keys).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from textual.message import Message

from hitl_desk.approver import Approver, Snapshot
from hitl_desk.client import RelayClient, StreamState
from hitl_desk.device import Device, DeviceList
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import HitlError, KeyMissingError, RelayUnavailableError
from hitl_desk.lan import LanStatus, LanSwitch
from hitl_desk.models import Agent, ApiKeyCreated, ApiKeyInfo, Event, HitlRequest
from hitl_desk.oauth_models import AuthorizedClient, ClientRevoked
from hitl_desk.pair_desk import Decide, PairedDevice, ShowLink, pair_on_desk
from hitl_desk.reading import RequestReader
from hitl_desk.rules import Rule
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
        self.core = Approver(client, settings, retry_max=RETRY_MAX) if client else None
        self.reader = (self.core.reader if self.core
                       else RequestReader(DeskEncryption.load(settings) if settings else None))
        """Every screen shows requests through it: encrypted ones decrypted, once each."""

    @property
    def address(self) -> str:
        """``host:port`` of the relay, for the status bar."""
        parts = urlsplit(self.url)
        return parts.netloc or self.url

    def _require(self) -> RelayClient:
        if self.client is None:
            raise RelayUnavailableError("Not connected to a relay.")
        return self.client

    def _core(self) -> Approver:
        if self.core is None:
            raise RelayUnavailableError("Not connected to a relay.")
        return self.core

    # -- following ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow events forever (until cancelled); a rejected credential ends it."""
        core = self._core()
        try:
            await core.follow(self)
        except HitlError as exc:  # 401/403: the stream gave up; say why
            last_seq = core.stream.last_seq if core.stream else None
            self.on_state(StreamState(False, last_seq, exc.message))

    def on_state(self, state: StreamState) -> None:
        """The stream connected or dropped: show it (the core loads the snapshot)."""
        self.state.connection = state
        self.post(ConnectionChanged(state.connected, state.last_seq, state.error))

    def on_event(self, event: Event) -> None:
        """Apply a live event and say what changed."""
        closed = self.state.apply(event)
        if closed is not None:
            assert self.core is not None
            self.post(RequestClosed(closed, closed.id not in self.core.mine))
        if event.request.kind in ("notification", "completion"):
            self.post(FeedChanged())
        if event.type != "request.created":
            self.post(HistoryChanged())
        self.post(QueueChanged())

    async def on_snapshot(self, snapshot: Snapshot) -> None:
        """Take the merged queue, then fetch the feed and the keys: the sync is complete."""
        core = self._core()
        for request in self.state.load(snapshot.pending):
            self.post(RequestClosed(request, elsewhere=request.id not in core.mine))
        if len(self.state.pending) >= FREEZE_AT:
            gc.freeze()
        client = self._require()
        try:
            feed = await client.list_requests(kind="notification", limit=FEED_LIMIT, newest_first=True)
            feed += await client.list_requests(kind="completion", limit=FEED_LIMIT, newest_first=True)
            keys = await client.list_api_keys()
        except HitlError as exc:  # the next reconnect loads them again
            log.info("sync failed: %s", exc.message)
            self.post(QueueChanged())
            return
        self.state.merge_feed(feed)  # marks the state synced: QueueChanged may show a wanted request
        self.state.keys, self.state.keys_loaded = keys, True
        self.post(QueueChanged())
        self.post(FeedChanged())
        self.post(DirectoryChanged())

    # -- commands -----------------------------------------------------------------------------

    async def answer(self, request: HitlRequest, text: str) -> HitlRequest:
        """Answer a pending request (raises ``RequestClosedError`` if someone was first).

        ``request`` is the one the relay sent: an encrypted request's answer is sealed to its
        agent's key, so the text never reaches the relay.
        """
        return await self._core().answer(request, text)

    async def cancel(self, request_id: str) -> HitlRequest:
        """Cancel a pending request; the waiting agent gets ``cancelled``."""
        return await self._core().cancel(request_id)

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

    async def load_rules(self) -> list[Rule]:
        """Fetch the live always-allow rules, newest first."""
        return await self._require().list_rules()

    async def revoke_rule(self, rule_id: str) -> Rule:
        """Revoke an always-allow rule at once."""
        return await self._require().revoke_rule(rule_id)

    async def list_oauth_clients(self) -> list[AuthorizedClient]:
        """The clients signed in with OAuth (owner)."""
        return await self._require().list_oauth_clients()

    async def revoke_oauth_client(self, client_id: str) -> ClientRevoked:
        """Revoke every grant of an OAuth client: its tokens are refused from now on."""
        return await self._require().revoke_oauth_client(client_id)

    async def pair(self, show: ShowLink, decide: Decide) -> PairedDevice:
        """Pair a device as ``hitl-desk pair`` does (``hitl_desk.pair_desk``), with this home's desk key."""
        core = self._core()
        if core.settings is None:
            raise KeyMissingError("This TUI was started without a home for the desk key, so it cannot share it.")
        return await pair_on_desk(self._require(), core.settings, show, decide)

    async def list_devices(self) -> list[Device]:
        """The paired devices, revoked ones included (owner)."""
        return (await self._require().call("GET", "/api/v1/devices", DeviceList)).devices

    async def revoke_device(self, device_id: str) -> Device:
        """Revoke a device at once: its requests are refused and its stream closes."""
        return await self._require().call("DELETE", f"/api/v1/devices/{quote(device_id, safe='')}", Device)

    async def lan_status(self) -> LanStatus:
        """Whether the relay's LAN listener runs, and its URLs (owner)."""
        return await self._require().call("GET", "/api/v1/lan", LanStatus)

    async def switch_lan(self, enabled: bool) -> LanStatus:
        """Turn the relay's LAN listener on or off; the relay keeps the choice for its next start."""
        return await self._require().call("PUT", "/api/v1/lan", LanStatus, body=LanSwitch(enabled=enabled))
