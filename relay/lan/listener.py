"""The LAN listener: a second aiohttp application and site(s), sharing the one relay's parts.

``relay.lan.switch`` starts and stops it (at the relay's start with ``RelayConfig.lan`` set, or
when the owner flips the LAN switch): once the broker exists a ``LanListener`` binds the LAN
addresses (``--lan-address``, else chosen by ``hitl_desk.lan``), copies the loopback app's parts
(store-backed broker, bus, auth, metrics, the socket registry) so both listeners are one relay,
advertises itself over mDNS, and follows address and desk-key changes every ``lan_poll``
seconds.  It stops, withdrawing the advert, before the broker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from hitl_desk.crypto import fingerprint
from hitl_desk.errors import RelayStartError
from hitl_desk.lan import lan_addresses
from hitl_desk.models import MAX_BODY_BYTES
from relay.context import BROKER, RelayConfig
from relay.http import error_middleware
from relay.lan.routes import LanHosts, add_lan_routes, only_lan_routes
from relay.limits import GATE, ConnectionGate, GuardedSite, handler_options

if TYPE_CHECKING:
    from relay.lan.advert import Advertiser
    from relay.tls import LanTls

log = logging.getLogger(__name__)


class LanListener:
    """The LAN-facing application and its sites, one per LAN address, on one port."""

    def __init__(self, loopback: web.Application, config: RelayConfig) -> None:
        self.config = config
        self.loopback = loopback
        self.tls: LanTls | None = None
        if config.lan_tls:
            from relay.tls import LanTls  # cryptography loads only for a relay that serves TLS

            self.tls = LanTls.of(config.home)
        self.scheme = "https" if self.tls else "http"
        self._ssl: ssl.SSLContext | None = None
        self.hosts = LanHosts(config.allowed_hosts, self.scheme)
        self.app = self._make_app()
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0, **handler_options(config))
        self.port = config.port if config.lan_port is None else config.lan_port
        self.sites: dict[str, GuardedSite] = {}
        self.fingerprint: str | None = None
        self._advertiser: Advertiser | None = None
        self._poller: asyncio.Task[None] | None = None
        self._refreshing = asyncio.Lock()

    def _make_app(self) -> web.Application:
        gate = ConnectionGate(self.config)
        app = web.Application(middlewares=[error_middleware, gate.middleware, self.hosts.middleware,
                                           only_lan_routes(self.loopback.router)],
                              client_max_size=MAX_BODY_BYTES)
        for key in self.loopback:  # one relay: the same broker, bus, auth, metrics and socket registry
            if key is not GATE:
                app[key] = self.loopback[key]
        app[GATE] = gate  # connections are counted per listener
        add_lan_routes(app)
        return app

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses served now."""
        return tuple(self.sites)

    @property
    def urls(self) -> list[str]:
        """The LAN listener's base URLs, one per address."""
        return [f"{self.scheme}://{address}:{self.port}" for address in self.sites]

    def wanted_addresses(self) -> list[str]:
        """The addresses to serve: those configured, else the LAN addresses found now."""
        return list(self.config.lan_addresses) or lan_addresses()

    async def start(self) -> None:
        """Bind the LAN addresses, then advertise them and follow changes in the background."""
        await self.runner.setup()
        try:
            wanted = self.wanted_addresses()
            if not wanted:
                log.warning("no LAN address yet: the LAN listener starts once an interface has one")
            async with self._refreshing:
                await self._serve(wanted, strict=bool(self.config.lan_addresses))
        except BaseException:
            await self.stop()
            raise
        # mDNS probing takes a second or two: the relay is up meanwhile, and a start that fails
        # later (the loopback port taken) cancels this before anything is announced.
        self._poller = asyncio.create_task(self._follow(), name="lan-follow")

    async def set_addresses(self, addresses: Sequence[str]) -> None:
        """Serve and advertise exactly these addresses from now on (new ones bound before old ones close)."""
        async with self._refreshing:
            await self._serve(addresses, strict=False)
            await self._advertise()

    async def _serve(self, addresses: Sequence[str], *, strict: bool) -> None:
        """Bind new addresses, close gone ones; ``strict``: a bind failure is a ``RelayStartError``."""
        wanted = list(dict.fromkeys(addresses))
        if self.tls is not None and wanted:
            self._load_certificate(wanted)
        for address in wanted:
            if address not in self.sites:
                await self._bind(address, strict)
        for address in [a for a in self.sites if a not in wanted]:
            await self.sites.pop(address).stop()
            log.info("LAN listener left %s", address)
        self.hosts.serve(self.sites, self.port)

    def _load_certificate(self, addresses: list[str]) -> None:
        """A certificate for exactly these addresses (reissued by the CA when they change), in the one
        context every site shares: a reloaded chain serves the next handshakes of every site."""
        assert self.tls is not None
        if self._ssl is None:
            self._ssl = self.tls.server_context(addresses)
        else:
            self.tls.ensure(addresses)
            self._ssl.load_cert_chain(self.tls.cert, self.tls.key)

    async def _bind(self, address: str, strict: bool) -> None:
        site = GuardedSite(self.runner, address, self.port, self._ssl)
        try:
            await site.start()
        except OSError as exc:
            await site.stop()  # aiohttp registers a site before it listens: unregister it
            message = f"the LAN listener cannot listen on port {self.port} of {address}: {_why(exc)}"
            if strict:
                raise RelayStartError(message) from None
            log.warning("%s", message)
            return
        if self.port == 0:  # the first site picked a free port: every address shares it
            self.port = next(int(a[1]) for a in self.runner.addresses if a[0] == address)
        self.sites[address] = site
        log.info("LAN listener on %s://%s:%d (pairing and paired devices only)", self.scheme, address, self.port)

    async def refresh(self) -> None:
        """Follow the interfaces (when no address was configured) and the desk key's fingerprint."""
        if not self.config.lan_addresses:
            wanted = self.wanted_addresses()
            if set(wanted) != set(self.sites):
                await self.set_addresses(wanted)
                return
        async with self._refreshing:
            await self._advertise()

    async def _advertise(self) -> None:
        if not self.config.mdns:
            return
        from relay.lan.advert import Advertiser  # zeroconf loads only for a relay that advertises

        key = await self.loopback[BROKER].desk_key()
        self.fingerprint = fingerprint(key) if key else None
        if self._advertiser is None:
            self._advertiser = Advertiser(tls=self.tls is not None)
        await self._advertiser.publish(self.addresses, self.port, self.fingerprint)

    async def _follow(self) -> None:
        try:
            async with self._refreshing:
                await self._advertise()
        except Exception:  # loop boundary: the listener serves on without the advert
            log.exception("advertising the LAN listener over mDNS failed")
        if self.config.lan_poll <= 0:
            return
        while True:
            await asyncio.sleep(self.config.lan_poll)  # the interval between interface checks
            try:
                await self.refresh()
            except Exception:  # loop boundary: a failed check must not end the following
                log.exception("checking the LAN addresses failed")

    async def stop(self) -> None:
        """Stop following, withdraw the advert, and close the LAN sites."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._advertiser is not None:
            await self._advertiser.withdraw()
        self.sites.clear()
        await self.runner.cleanup()


def _why(exc: OSError) -> str:
    """A failed bind in the user's terms, with the flag that fixes it."""
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use; choose another with --lan-port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "it is not an address of this machine; choose one with --lan-address"
    return exc.strerror or str(exc)

