"""This relay's expiry timers, and the lease that says which pending requests they cover.

Relays that share a store each hold a lease (renewed every third of its length).  A request's
timer belongs to the relay that created it while that relay's lease is live; once the lease
lapses (a crash) or is released (a clean stop), any relay claims the orphaned timers with one
conditional UPDATE.  Whoever fires, the closing UPDATE changes a request's state exactly once,
and every relay learns of it from the bus.

A relay's id names its host and process, so a relay restarted after a crash (SIGKILL) need not
wait out its predecessor's lease: at start it ends the leases of relays of this host whose
process is gone.  (A wrong guess, say two hosts of one name, only arms a second timer; the
closing UPDATE still expires the request once.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from hitl_desk.errors import RequestClosedError, StorageFullError
from hitl_desk.models import HitlRequest
from relay.store import ClaimedTimer, Store

log = logging.getLogger(__name__)
DEFAULT_TIMER_LEASE = 30.0
"""Seconds a relay's claim on its timers lasts unrenewed: after a crash, another relay claims the
requests it owned at most this late (a relay restarted on the same host, at once)."""


def new_relay_id() -> str:
    """A fresh id for one run of one relay (the owner named in its timer lease): host/pid/random."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def gone_from_this_host(relay_id: str) -> bool:
    """Whether the relay of that id ran on this host in a process that no longer exists."""
    host, _, rest = relay_id.rpartition("/")[0].rpartition("/")
    if host != socket.gethostname() or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


class ExpiryTimers:
    """Arms, claims and releases the expiry timers this relay owns."""

    def __init__(self, store: Store, expire: Callable[[str], Awaitable[None]],
                 claimed: Callable[[ClaimedTimer], None], *, lease: float = DEFAULT_TIMER_LEASE,
                 clock: Callable[[], float] = time.time) -> None:
        self.relay_id = new_relay_id()
        self.store = store
        self.lease = lease
        self.clock = clock
        self._expire = expire
        self._claimed = claimed
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the lease, claim the orphaned timers (all of them after a restart), keep sweeping."""
        for holder in await self.store.live_leases(self.clock()):
            if gone_from_this_host(holder):  # crashed here: its lease would outlive it for nothing
                log.info("taking over the timers of %s, which is gone", holder)
                await self.store.release_timers(holder)
        await self._sweep()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        """Disarm every timer and hand them back, so the next relay to sweep takes them at once."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.store.release_timers(self.relay_id)
        except Exception:  # a full disk or a closing store: the lease then lapses by itself
            log.warning("could not release the timer lease; it lapses in %.0f s", self.lease, exc_info=True)

    def arm(self, request: HitlRequest) -> None:
        """Expire the request when its time is up (at once when it is already past)."""
        assert request.expires_at is not None
        self.disarm(request.id)
        delay = max(0.0, request.expires_at.timestamp() - self.clock())
        self._handles[request.id] = asyncio.get_running_loop().call_later(delay, self._fire, request.id)

    def disarm(self, request_id: str) -> None:
        """Forget the request's timer (it closed)."""
        handle = self._handles.pop(request_id, None)
        if handle is not None:
            handle.cancel()

    async def _sweep(self) -> None:
        now = self.clock()
        await self.store.renew_lease(self.relay_id, now + self.lease)
        for claimed in await self.store.claim_timers(self.relay_id, now):
            self.arm(claimed.request)
            self._claimed(claimed)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)  # a period, not a wait for a condition
            try:
                await self._sweep()
            except StorageFullError:  # /healthz reports it; the lease lapses if it lasts
                log.warning("the disk is full: the timer lease was not renewed")
            except Exception:  # loop boundary: a failed renewal is retried next period
                log.exception("renewing the timer lease failed")

    def _fire(self, request_id: str) -> None:
        self._handles.pop(request_id, None)
        task = asyncio.get_running_loop().create_task(self._expire_logged(request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire_logged(self, request_id: str) -> None:
        try:
            await self._expire(request_id)
        except RequestClosedError:
            pass  # answered in the same instant (here or on another relay): the answer won
        except Exception:  # loop boundary: a failed expiry must not kill the timer machinery
            log.exception("expiring %s failed", request_id)
