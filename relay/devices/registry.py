"""Paired devices on the relay: made by a finished pairing, listed, revoked, and checked on every request.

A device request is signed with the device's Ed25519 key (``hitl_desk.device.signed_text``).
The relay verifies the signature against the public key it stored at pairing, refuses a
timestamp more than ``SIGNATURE_WINDOW`` seconds from its clock (or from before it started:
the nonces it remembers do not survive a restart), and refuses a nonce it has seen.
"""

from __future__ import annotations

import asyncio
import binascii
import math
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from hitl_desk.crypto import fingerprint, unb64
from hitl_desk.device import (
    DEVICE_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_WINDOW,
    TIMESTAMP_HEADER,
    Device,
    signed_text,
    unb64url,
)
from hitl_desk.errors import (
    DecryptionError,
    DeviceAuthError,
    DeviceNotFoundError,
    DeviceRevokedError,
    SignatureExpiredError,
    SignatureReplayedError,
)
from relay.store.devices import DeviceRow, DeviceStore

TOUCH_INTERVAL = 30.0
"""Seconds between writes of a device's last-seen time."""
CLOSE_DEVICE_REVOKED = 4403
"""Close code of a revoked device's event stream: it must pair again."""
MAX_NONCES = 100_000
"""Nonces remembered at most (a window's worth); past it the relay refuses until old ones age out."""


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def device_of(row: DeviceRow) -> Device:
    """A stored device as the owner lists it."""
    return Device(id=row.id, name=row.name, fingerprint=fingerprint(row.verify_key),
                  created_at=datetime.fromtimestamp(row.created_at, UTC), last_seen_at=_utc(row.last_seen_at),
                  revoked_at=_utc(row.revoked_at))


class DeviceRegistry:
    """The relay's paired devices, the nonces their signed requests used, and their open sockets."""

    def __init__(self, store: DeviceStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.started_at = math.floor(clock() * 1000) / 1000  # timestamps are signed to the millisecond
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}
        """Each device's open event streams (``relay.devices.routes`` adds them), closed on revocation."""
        self._nonces: dict[str, float] = {}
        self._touched: dict[str, float] = {}

    async def create(self, name: str, verify_key: str, box_public_key: str) -> Device:
        """Register a device whose pairing the human confirmed."""
        row = DeviceRow("dev_" + secrets.token_hex(8), name, verify_key, box_public_key, self.clock(), None, None)
        await self.store.insert_device(row)
        return device_of(row)

    async def list(self) -> list[Device]:
        """Every device, newest first."""
        return [device_of(row) for row in await self.store.list_devices()]

    async def revoke(self, device_id: str) -> Device:
        """Revoke a device at once: its next request is refused and its open streams close."""
        row = await self.store.revoke_device(device_id, self.clock())
        if row is None:
            raise DeviceNotFoundError(f"No paired device has the id {device_id!r}.")
        open_sockets = self.sockets.pop(device_id, set())
        await asyncio.gather(*(ws.close(code=CLOSE_DEVICE_REVOKED, message=b"device revoked")
                               for ws in open_sockets), return_exceptions=True)
        return device_of(row)

    async def authenticate(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> DeviceRow:
        """The paired device that signed this request, or a ``DeviceAuthError`` saying why not."""
        device_id, stamp, nonce, signature = (headers.get(h) for h in (
            DEVICE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
        if not (device_id and stamp and nonce and signature):
            raise DeviceAuthError("This route is for paired devices: the request carries no device signature. "
                                  "Pair this device first (hitl-desk pair URL).")
        row = await self.store.device_by_id(device_id)
        if row is None:
            raise DeviceAuthError(f"No paired device has the id {device_id!r}: pair this device first.")
        try:
            VerifyKey(unb64(row.verify_key)).verify(signed_text(method, target, body, stamp, nonce, device_id),
                                                    unb64url(signature))
        except (BadSignatureError, DecryptionError, ValueError, binascii.Error):
            raise DeviceAuthError("The device signature does not match this request.") from None
        if row.revoked_at is not None:
            raise DeviceRevokedError()
        self._check_fresh(device_id, stamp, nonce)
        await self._touch(row)
        return row

    def _check_fresh(self, device_id: str, stamp: str, nonce: str) -> None:
        now = self.clock()
        try:
            at = float(stamp)
        except ValueError:
            at = float("nan")
        floor = max(now - SIGNATURE_WINDOW, self.started_at)
        if not floor <= at <= now + SIGNATURE_WINDOW:  # NaN fails both comparisons
            raise SignatureExpiredError(details={"server_time": now, "window": SIGNATURE_WINDOW})
        for seen, until in list(self._nonces.items()):  # oldest first: stop at the first live one
            if until >= now:
                break
            del self._nonces[seen]
        key = f"{device_id}:{nonce}"
        if key in self._nonces:
            raise SignatureReplayedError()
        if len(self._nonces) >= MAX_NONCES:
            raise SignatureExpiredError("Too many signed requests in the last minute; try again shortly.",
                                        details={"server_time": now, "window": SIGNATURE_WINDOW})
        self._nonces[key] = now + 2 * SIGNATURE_WINDOW  # past this, its timestamp is refused anyway

    async def _touch(self, row: DeviceRow) -> None:
        now = self.clock()
        if now - self._touched.get(row.id, 0.0) >= TOUCH_INTERVAL:
            self._touched[row.id] = now
            await self.store.touch_device(row.id, now)
