"""The relay's mDNS advertisement of its LAN listener (``_hitl-desk._tcp.local.``), with zeroconf.

zeroconf sends and answers only on the interfaces it is given, and those are the LAN listener's
addresses, never every interface.  The interface list of a running ``AsyncZeroconf`` is fixed, so
a change of addresses re-registers on a new one; a change of fingerprint only updates the TXT record.

After a move the old addresses are usually gone, so the goodbye the old advert says from them is
lost: a browser would keep the dead address cached next to the new one.  The last advert that was
announced is therefore owed a goodbye from the new addresses, and it stays owed until one has been
said there, also across a publish that failed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Sequence

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from hitl_desk.discovery import SERVICE_TYPE, advert_properties

log = logging.getLogger(__name__)

_LABEL = re.compile(r"[^a-z0-9-]+")
GOODBYES, GOODBYE_INTERVAL = 3, 0.125  # as zeroconf's own unregistering (RFC 6762 §8.3 repeats announcements)


def host_label() -> str:
    """This machine's name as a DNS label (letters, digits, hyphens; at most 40 characters)."""
    label = _LABEL.sub("-", socket.gethostname().split(".")[0].lower()).strip("-")
    return label[:40] or "desk"


class Advertiser:
    """Publishes, updates and withdraws one ``_hitl-desk._tcp`` service."""

    def __init__(self, label: str | None = None, tls: bool = False) -> None:
        self.label = label or host_label()
        self.tls = tls
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._owed: AsyncServiceInfo | None = None  # announced, withdrawn, and no goodbye said from where we are now
        self.addresses: tuple[str, ...] = ()
        self.port = 0
        self.fingerprint: str | None = None

    @property
    def published(self) -> bool:
        """Whether the service is announced now."""
        return self._info is not None

    async def publish(self, addresses: Sequence[str], port: int, fingerprint: str | None) -> None:
        """Announce (or re-announce) the service on exactly these addresses; none withdraws it."""
        addresses = tuple(addresses)
        if self.published and (addresses, port) == (self.addresses, self.port):
            if fingerprint != self.fingerprint:
                await self._update(fingerprint)
            return
        self._owed = self._info or self._owed
        await self.withdraw()
        self.addresses, self.port, self.fingerprint = addresses, port, fingerprint
        zeroconf = self._new_zeroconf(addresses)
        if zeroconf is None:
            return
        info = AsyncServiceInfo(SERVICE_TYPE, f"hitl-desk on {self.label}.{SERVICE_TYPE}",
                                addresses=[socket.inet_aton(a) for a in self.addresses], port=port,
                                properties=advert_properties(fingerprint, self.tls),
                                server=f"{self.label}-hitl-desk-{port}.local.")
        try:
            if self._owed is not None:
                await zeroconf.zeroconf.async_wait_for_start()  # sent before its sockets exist, it would be lost
                await _goodbye(zeroconf, self._owed)
                self._owed = None
            registered = await zeroconf.async_register_service(info, allow_name_change=True)
            await registered
        except BaseException:
            await _close(zeroconf)
            raise
        self._zeroconf, self._info = zeroconf, info
        log.info("advertising %s on %s port %d over mDNS", info.name, ", ".join(self.addresses), port)

    def _new_zeroconf(self, addresses: Sequence[str]) -> AsyncZeroconf | None:
        """A zeroconf on these addresses, or on those of them still assigned when one went meanwhile
        (zeroconf cannot join the group on a gone address); None when none is left to advertise on."""
        if not addresses:
            return None
        try:
            return AsyncZeroconf(ip_version=IPVersion.V4Only, interfaces=list(addresses))
        except OSError as exc:
            left = tuple(a for a in addresses if _assigned(a))
            if left == tuple(addresses):
                raise
            log.info("%s went while the advert moved there (%s)", ", ".join(a for a in addresses if a not in left),
                     exc.strerror)
            self.addresses = left
            return self._new_zeroconf(left)

    async def _update(self, fingerprint: str | None) -> None:
        zeroconf, old = self._zeroconf, self._info
        assert zeroconf is not None and old is not None
        info = AsyncServiceInfo(SERVICE_TYPE, old.name, addresses=old.addresses, port=old.port,
                                properties=advert_properties(fingerprint, self.tls), server=old.server)
        await (await zeroconf.async_update_service(info))
        self._info, self.fingerprint = info, fingerprint

    async def withdraw(self) -> None:
        """Say goodbye (browsers drop the service at once) and stop answering mDNS."""
        zeroconf, self._zeroconf, self._info = self._zeroconf, None, None
        if zeroconf is not None:
            await zeroconf.async_unregister_all_services()
            await zeroconf.async_close()
            log.info("withdrew the mDNS advert")


def _assigned(address: str) -> bool:
    """Whether this machine has ``address`` now (only an assigned address can be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


async def _goodbye(zeroconf: AsyncZeroconf, info: AsyncServiceInfo) -> None:
    """Say goodbye for ``info``'s records (TTL 0) as zeroconf says its own: three times, 125 ms apart,
    since one datagram may be lost.  They all go before the new advert's first announcement, which
    shares the name and would be dropped by a goodbye arriving after it."""
    for attempt in range(GOODBYES):
        if attempt:
            await asyncio.sleep(GOODBYE_INTERVAL)
        zeroconf.zeroconf.async_send(zeroconf.zeroconf.generate_service_broadcast(info, 0))


async def _close(zeroconf: AsyncZeroconf) -> None:
    """Close it, its sockets included, also when the publish was cancelled before zeroconf started:
    that cancel reaches zeroconf's start-up too, and ``async_close`` then ends without closing them."""
    try:
        await zeroconf.async_close()
    except asyncio.CancelledError:
        await asyncio.sleep(0)  # the endpoints its start-up was making are made first
        zeroconf.zeroconf.engine.close()  # closes their sockets at once, from the loop
        raise
