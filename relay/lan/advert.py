"""The relay's mDNS advertisement of its LAN listener (``_hitl-desk._tcp.local.``), with zeroconf.

zeroconf sends and answers only on the interfaces it is given, and those are the LAN listener's
addresses, never every interface.  The interface list of a running ``AsyncZeroconf`` is fixed, so
a change of addresses re-registers on a new one (the old one says goodbye first, so browsers drop
the stale addresses at once); a change of fingerprint only updates the TXT record.
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
        stale = self._info
        await self.withdraw()
        self.addresses, self.port, self.fingerprint = addresses, port, fingerprint
        if not addresses:
            return
        zeroconf = self._new_zeroconf(addresses)
        info = AsyncServiceInfo(SERVICE_TYPE, f"hitl-desk on {self.label}.{SERVICE_TYPE}",
                                addresses=[socket.inet_aton(a) for a in addresses], port=port,
                                properties=advert_properties(fingerprint, self.tls),
                                server=f"{self.label}-hitl-desk-{port}.local.")
        try:
            if stale is not None:
                # The goodbye above went out from the old addresses, which may be gone already (the
                # usual reason to move): say it again from the new ones, or browsers keep the old
                # address cached next to the new one for the records' whole lifetime.
                await zeroconf.zeroconf.async_wait_for_start()  # sent before its sockets exist, it would be lost
                zeroconf.zeroconf.async_send(zeroconf.zeroconf.generate_service_broadcast(stale, 0))
            registered = await zeroconf.async_register_service(info, allow_name_change=True)
            await registered
        except BaseException:
            await _close(zeroconf)
            raise
        self._zeroconf, self._info = zeroconf, info
        log.info("advertising %s on %s port %d over mDNS", info.name, ", ".join(addresses), port)

    @staticmethod
    def _new_zeroconf(addresses: Sequence[str]) -> AsyncZeroconf:
        return AsyncZeroconf(ip_version=IPVersion.V4Only, interfaces=list(addresses))

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


async def _close(zeroconf: AsyncZeroconf) -> None:
    """Close it, its sockets included, also when the publish was cancelled before zeroconf started:
    that cancel reaches zeroconf's start-up too, and ``async_close`` then ends without closing them."""
    try:
        await zeroconf.async_close()
    except asyncio.CancelledError:
        await asyncio.sleep(0)  # the endpoints its start-up was making are made first
        zeroconf.zeroconf.engine.close()  # closes their sockets at once, from the loop
        raise
