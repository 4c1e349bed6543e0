"""Finding hitl-desk relays on the LAN over mDNS / DNS-SD (``_hitl-desk._tcp.local.``).

The relay advertises its LAN listener (``relay.lan.advert``) with the TXT record built here, so
both sides agree on it: ``v`` (protocol version), ``path`` (the base path, ``/``) and ``fp``
(the desk key's short fingerprint, when a desk key is registered).  Nothing in it is secret.
``browse`` and ``watch`` look for them from any process; zeroconf is imported only when they run.

mDNS is only ever sent on the interfaces asked for (by default this machine's LAN addresses,
``hitl_desk.lan``), never on every interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from hitl_desk.errors import HitlError

if TYPE_CHECKING:
    from zeroconf import ServiceStateChange, Zeroconf

SERVICE_TYPE = "_hitl-desk._tcp.local."
PROTOCOL_VERSION = "1"
BASE_PATH = "/"
RESOLVE_MS = 3000
"""How long one relay's details (addresses, port, TXT) may take to arrive after it is seen."""

Change = Literal["added", "updated", "removed"]


class LanHealth(BaseModel):
    """Answer of ``/healthz`` on the LAN listener: liveness only (a stranger on the LAN learns no counts)."""

    status: Literal["ok", "degraded"] = "ok"
    version: str


def advert_properties(fingerprint: str | None, tls: bool = False) -> dict[str, str]:
    """The TXT record a relay advertises: version, base path, the desk key's fingerprint if any, and
    ``tls=1`` when its LAN listener speaks https (``--lan-tls``)."""
    properties = {"v": PROTOCOL_VERSION, "path": BASE_PATH}
    if fingerprint:
        properties["fp"] = fingerprint
    if tls:
        properties["tls"] = "1"
    return properties


@dataclass(frozen=True)
class FoundRelay:
    """A relay seen on the LAN: its mDNS instance name, where it listens, and what its TXT says."""

    name: str
    addresses: tuple[str, ...]
    port: int
    fingerprint: str | None = None
    version: str | None = None
    path: str = BASE_PATH
    tls: bool = False

    @property
    def url(self) -> str:
        """The base URL of its LAN listener (the first address)."""
        host = self.addresses[0] if self.addresses else "?"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path.rstrip('/')}"


def _text(properties: dict[bytes, bytes | None], key: bytes) -> str | None:
    value = properties.get(key)
    return value.decode("utf-8", "replace") if value is not None else None


def _found(name: str, addresses: Sequence[str], port: int, properties: dict[bytes, bytes | None]) -> FoundRelay:
    path = _text(properties, b"path") or BASE_PATH
    return FoundRelay(name=name.removesuffix("." + SERVICE_TYPE), addresses=tuple(addresses), port=port,
                      fingerprint=_text(properties, b"fp"), version=_text(properties, b"v"),
                      path=path if path.startswith("/") else BASE_PATH, tls=_text(properties, b"tls") == "1")


def _interfaces(interfaces: Sequence[str] | None) -> list[str]:
    if interfaces:
        return list(interfaces)
    from hitl_desk.lan import lan_addresses

    chosen = lan_addresses()
    if not chosen:
        raise HitlError("This machine has no LAN address to look for relays on; name one with --interface ADDR.")
    return chosen


async def watch(interfaces: Sequence[str] | None = None) -> AsyncGenerator[tuple[Change, FoundRelay]]:
    """Relays as they appear, change and go, until the caller stops iterating.

    ``interfaces``: the addresses to send and hear mDNS on (default: the LAN addresses).
    """
    from zeroconf import IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

    changes: asyncio.Queue[tuple[ServiceStateChange, str]] = asyncio.Queue()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        changes.put_nowait((state_change, name))

    zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only, interfaces=_interfaces(interfaces))
    browser = AsyncServiceBrowser(zeroconf.zeroconf, [SERVICE_TYPE], handlers=[on_change])
    known: dict[str, FoundRelay] = {}
    try:
        while True:
            state, name = await changes.get()
            if state is ServiceStateChange.Removed:
                gone = known.pop(name, None)
                if gone is not None:
                    yield "removed", gone
                continue
            found = await _resolve(zeroconf.zeroconf, name)
            if found is not None and found != known.get(name):
                change: Change = "updated" if name in known else "added"
                known[name] = found
                yield change, found
    finally:
        await browser.async_cancel()
        await zeroconf.async_close()


async def _resolve(zeroconf: Zeroconf, name: str) -> FoundRelay | None:
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo

    info = AsyncServiceInfo(SERVICE_TYPE, name)
    if not await info.async_request(zeroconf, RESOLVE_MS) or info.port is None:
        return None
    return _found(name, info.parsed_addresses(IPVersion.V4Only), info.port, info.properties)


async def browse(interfaces: Sequence[str] | None = None, *, timeout: float = 2.0,
                 count: int | None = None) -> list[FoundRelay]:
    """The relays that answer within ``timeout`` seconds (sooner once ``count`` are found), by name."""
    found: dict[str, FoundRelay] = {}

    async def collect() -> None:
        async with aclosing(watch(interfaces)) as changes:
            async for change, relay in changes:
                if change == "removed":
                    found.pop(relay.name, None)
                else:
                    found[relay.name] = relay
                if count is not None and len(found) >= count:
                    return

    with suppress(TimeoutError):  # the browsing window closed: what answered by then is the answer
        async with asyncio.timeout(timeout):
            await collect()
    return sorted(found.values(), key=lambda relay: relay.name)


def _same_fingerprint(a: str | None, b: str) -> bool:
    return a is not None and a.replace(" ", "").lower() == b.replace(" ", "").lower()


async def find(fingerprint: str, interfaces: Sequence[str] | None = None, *,
               timeout: float = 5.0) -> FoundRelay | None:
    """The relay advertising this desk-key fingerprint, wherever it is now; None if none answers in time.

    A paired approver keeps the fingerprint, not the address, so it finds its desk again after
    the desk's address changed (spaces and case in the fingerprint do not matter).
    """
    async def first() -> FoundRelay:
        async with aclosing(watch(interfaces)) as changes:
            async for change, relay in changes:
                if change != "removed" and _same_fingerprint(relay.fingerprint, fingerprint):
                    return relay
        raise AssertionError("watch() ends only when its caller stops")  # pragma: no cover

    with suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            return await first()
    return None
