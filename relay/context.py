"""Typed application keys: how handlers reach the relay's parts, and the caller's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from hitl_desk.models import MAX_TIMEOUT_SECONDS
from hitl_desk.settings import DEFAULT_HOST, DEFAULT_PORT
from relay.auth import Auth, Principal
from relay.broker import Broker
from relay.bus import Bus
from relay.expiry import DEFAULT_TIMER_LEASE
from relay.push.target import NtfyTarget


@dataclass
class RelayConfig:
    """How a relay instance runs."""

    home: Path
    """The data directory (``HITL_HOME``): database, secret, owner credential."""
    host: str = DEFAULT_HOST
    """Listen address; anything but loopback is LAN mode and must be asked for."""
    port: int = DEFAULT_PORT
    """Listen port; 0 picks a free one."""
    max_timeout: float = MAX_TIMEOUT_SECONDS
    """Default and maximum time a request stays pending, in seconds."""
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    """Host names accepted besides loopback (LAN mode)."""
    database: Path | None = None
    """The SQLite file; defaults to ``home/relay.db``."""
    max_pending: int | None = 100
    """Pending requests one agent may have at once; over it a request is refused with 429
    ``too_many_pending`` (None: no cap)."""
    leave_grace: float = 30.0
    """Seconds a request whose blocked caller hung up (or was cut off by a relay restart) stays
    pending for that caller to come back by id before it is withdrawn as ``agent_left``."""
    timer_lease: float = DEFAULT_TIMER_LEASE
    """Seconds a relay's claim on its requests' expiry timers lasts unrenewed (renewed every third
    of it).  Relays sharing a store each expire only the requests they hold the lease for; when a
    relay crashes, another one claims its timers once the lease lapses (a relay restarted on the
    same host claims them at once)."""
    hangup_poll: float = 0.25
    """Seconds between checks for blocked REST callers that hung up (aiohttp does not cancel
    handlers on disconnect)."""
    mcp_progress_interval: float = 15.0
    """Seconds between MCP progress notifications while a tool call waits for the human
    (clients give up after 300 s of silence)."""
    max_connections: int | None = None
    """Most connections served at once; None fits it below the open-file limit (at most 4,096).
    The last eighth is kept for the owner (approvers) once the rest are busy."""
    header_timeout: float = 5.0
    """Seconds a connection has to send a request's headers (from connecting, or its first byte)."""
    idle_timeout: float = 20.0
    """Seconds a connection may sit idle between requests (longer than clients' pools keep them)."""
    mcp_sessions_per_key: int = 32
    """MCP sessions one credential may hold; past it the longest-idle one is ended."""
    mcp_session_idle: float = 300.0
    """Seconds an MCP session may go without a request in flight before it is ended (a call
    waiting for the human is in flight)."""
    lan: bool = False
    """Also serve the LAN listener (``--lan``): pairing and paired devices only (``relay.lan``)."""
    lan_addresses: tuple[str, ...] = ()
    """The LAN listener's addresses (``--lan-address``); empty: chosen from the interfaces, and
    followed as they change."""
    lan_port: int | None = None
    """The LAN listener's port; None: the loopback listener's (a free one when that is 0)."""
    lan_poll: float = 10.0
    """Seconds between checks of the interfaces and the desk key, to keep the mDNS advert current."""
    lan_tls: bool = False
    """Serve the LAN listener over TLS (``--lan-tls``) with a certificate from the relay's own CA
    (``relay.tls``), which phones install from ``/hitl-desk-ca.pem``."""
    mdns: bool = True
    """Advertise the LAN listener over mDNS (``_hitl-desk._tcp``) on its addresses."""
    oauth_consent_timeout: float = 300.0
    """Seconds an OAuth consent question waits for the human before the sign-in fails."""
    oauth_cimd_cafile: Path | None = None
    """Extra CA certificates trusted when fetching OAuth client metadata documents (besides the system's)."""
    pairing_ttl: float = 300.0
    """Seconds a pairing link works (once); ``hitl-desk pair`` shows it as a QR code."""
    ntfy: NtfyTarget | None = None
    """Wake the phone through this ntfy topic (``--ntfy``, ``relay.push``); None: no pushes."""


CONFIG: web.AppKey[RelayConfig] = web.AppKey("config", RelayConfig)
BUS: web.AppKey[Bus] = web.AppKey("bus", Bus)
BROKER: web.AppKey[Broker] = web.AppKey("broker", Broker)
AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)
_PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


async def principal_of(request: web.Request) -> Principal:
    """The authenticated caller of this request (checked once, then remembered)."""
    found = request.get(_PRINCIPAL)
    if isinstance(found, Principal):
        return found
    principal = await request.app[AUTH].authenticate(request.headers, request.query, request.remote or "",
                                                     url=lambda: f"{request.scheme}://{request.host}{request.path}")
    request[_PRINCIPAL] = principal
    return principal


async def owner_of(request: web.Request) -> Principal:
    """The caller, who must be the owner."""
    principal = await principal_of(request)
    principal.require_owner()
    return principal


def remember_principal(request: web.Request, principal: Principal) -> None:
    """Record a caller authenticated another way (a device's signature) for ``principal_of``."""
    request[_PRINCIPAL] = principal
