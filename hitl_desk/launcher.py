"""Make sure a relay answers at the configured address, starting one in this process if not.

The relay package plugs in through the ``hitl_desk.relay`` entry point (``embedded``), so this
core never imports it; what it starts is served on this process's event loop and stopped when
the context exits.  Approvers still talk to it over the wire through ``hitl_desk.client``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol
from urllib.parse import urlsplit

from hitl_desk.client import RelayClient
from hitl_desk.errors import HitlError, RelayUnavailableError
from hitl_desk.settings import LOOPBACK_HOSTS, Settings


class EmbeddedRelay(Protocol):
    """What the ``hitl_desk.relay:embedded`` entry point returns: ``(settings) -> async context``."""

    def __call__(self, settings: Settings) -> AbstractAsyncContextManager[str]: ...


@dataclass(frozen=True)
class RelayHandle:
    """The relay in use: its URL and whether this process started it."""

    url: str
    started_here: bool


async def relay_answers(url: str) -> bool:
    """True when a hitl-desk relay answers ``/healthz`` at ``url``."""
    async with RelayClient(url) as client:
        try:
            await client.health()
        except (RelayUnavailableError, HitlError, ValueError):
            return False
    return True


@asynccontextmanager
async def ensure_relay(settings: Settings, url: str | None = None) -> AsyncIterator[RelayHandle]:
    """Yield a relay handle, starting an embedded relay if none answers on a loopback URL."""
    target = (url or settings.server_url).rstrip("/")
    if await relay_answers(target):
        yield RelayHandle(target, started_here=False)
        return
    if urlsplit(target).hostname not in LOOPBACK_HOSTS:
        raise RelayUnavailableError(f"No relay answered at {target}, and it is not on this machine.")
    found = [e for e in entry_points(group="hitl_desk.relay") if e.name == "embedded"]
    if not found:
        raise RelayUnavailableError("No relay answered and the relay package is not installed.")
    factory: EmbeddedRelay = found[0].load()
    local = Settings(home=settings.home, server_url=target, api_key=settings.api_key,
                     server_url_set=True)
    async with factory(local) as started_url:
        yield RelayHandle(started_url, started_here=True)
