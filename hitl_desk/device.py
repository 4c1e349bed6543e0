"""Paired devices on the wire: their models, the pairing exchange's messages, and request signing.

A paired device (a phone, a second desktop) holds an Ed25519 signing key of its own; the relay
keeps only the public half.  Every device request carries a signature over its method, path,
body hash, a timestamp and a fresh nonce (``signed_headers``), so nothing that crosses the LAN
in the clear can be reused: the relay refuses a stale timestamp and a nonce it saw before.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from nacl.signing import SigningKey
from pydantic import BaseModel, Field, StringConstraints

from hitl_desk.models import ErrorBody, Name, WireModel

SIGNATURE_VERSION = "hitl-desk-device-v1"
DEVICE_HEADER = "X-Hitl-Device"
TIMESTAMP_HEADER = "X-Hitl-Timestamp"
NONCE_HEADER = "X-Hitl-Nonce"
SIGNATURE_HEADER = "X-Hitl-Signature"
SIGNATURE_WINDOW = 60.0
"""Seconds a signed request's timestamp may differ from the relay's clock."""
DEVICE_PREFIX = "/api/v1/device"
"""Where the device-signed routes live: the owner's paths under this prefix."""

B64Key = Annotated[str, StringConstraints(min_length=43, max_length=44, pattern=r"^[A-Za-z0-9+/]{43}=?$")]
"""A 32-byte key in standard base64."""
Token = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_\-+/=]+$")]
"""A nonce, commitment or MAC: url-safe or standard base64, or hex."""
Sealed = Annotated[str, StringConstraints(min_length=64, max_length=512, pattern=r"^[A-Za-z0-9+/]+={0,2}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]

PairingStatus = Literal["waiting", "joined", "revealed", "desk_revealed", "confirmed", "paired", "failed"]
"""Where a pairing stands: each side commits, then reveals, then the human confirms on the desk."""


# -- devices ----------------------------------------------------------------------------------

class Device(BaseModel):
    """A paired device as the desk lists it (its public keys' fingerprints, never a secret)."""

    id: str
    name: str
    fingerprint: str
    created_at: datetime
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None


class DeviceList(BaseModel):
    """Answer of ``GET /api/v1/devices``."""

    devices: list[Device]


# -- the pairing exchange (DESIGN.md §7) ------------------------------------------------------

class PairingStart(WireModel):
    """The desk opens a pairing with its commitment to a nonce (``hitl_desk.pairing``)."""

    desk_commitment: Token


class PairingJoin(WireModel):
    """The new device's public keys and commitment, MACed with the link's secret."""

    name: Name
    box_public_key: B64Key
    verify_key: B64Key
    commitment: Token
    mac: Token


class NonceReveal(WireModel):
    """The device reveals its nonce (after it holds the desk's commitment)."""

    nonce: Token


class DeskReveal(WireModel):
    """The desk reveals its nonce and key (after it holds the device's nonce), MACed."""

    nonce: Token
    desk_public_key: B64Key
    mac: Token


class PairingConfirm(WireModel):
    """The human says the codes match, with the code they saw on the desk."""

    code: Code


class PairingDelivery(WireModel):
    """The desk key sealed to the device's key, MACed: the last step of a pairing."""

    sealed_desk_key: Sealed
    mac: Token


StopReason = Literal["codes_differ", "secret_mismatch", "cancelled"]


class PairingStop(WireModel):
    """Why the desk ends a pairing: the human said the codes differ, the device's MAC failed, or
    the human gave up."""

    reason: StopReason = "cancelled"


class PairingState(BaseModel):
    """A pairing as the relay relays it: public values only (the secret never reaches it)."""

    pairing_id: str
    status: PairingStatus
    version: int
    """Grows with every step; ``GET …?after=VERSION&wait=S`` long-polls for the next one."""
    expires_at: datetime
    device_url: str | None = None
    """The relay's address for devices (its LAN listener when it has one)."""
    desk_commitment: str
    device_name: str | None = None
    box_public_key: str | None = None
    verify_key: str | None = None
    device_commitment: str | None = None
    device_mac: str | None = None
    device_nonce: str | None = None
    desk_nonce: str | None = None
    desk_public_key: str | None = None
    desk_mac: str | None = None
    sealed_desk_key: str | None = None
    delivery_mac: str | None = None
    device_id: str | None = None
    failure: ErrorBody | None = None


class PairingWait(WireModel):
    """Query of the pairing's state: wait up to ``wait`` seconds (at most the relay's cap on blocking
    calls) for a version above ``after``."""

    after: int = Field(default=-1, ge=-1)
    wait: float = Field(default=0.0, ge=0, le=60)


# -- signing device requests ------------------------------------------------------------------

def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (nonces, signatures: they travel in headers and links)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    """Decode URL-safe base64 with or without padding (``ValueError`` when it is not)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_target(path: str, query: Mapping[str, str]) -> str:
    """The path and its query as signed: parameters sorted, so both ends build the same text."""
    return path + ("?" + urlencode(sorted(query.items())) if query else "")


def signed_text(method: str, target: str, body: bytes, timestamp: str, nonce: str, device_id: str) -> bytes:
    """What a device signs: every part that could be changed or replayed, one per line."""
    lines = (SIGNATURE_VERSION, method.upper(), target, hashlib.sha256(body).hexdigest(), timestamp, nonce,
             device_id)
    return "\n".join(lines).encode("utf-8")


QUERY_FIELDS = {"hitl_device": DEVICE_HEADER, "hitl_ts": TIMESTAMP_HEADER, "hitl_nonce": NONCE_HEADER,
                "hitl_sig": SIGNATURE_HEADER}
"""The signature in the query instead of headers, for a browser's WebSocket (which cannot set
headers); these fields are left out of the signed target."""


def signature_fields(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The signature's fields (from the headers, else from the query) and the query as signed."""
    if headers.get(DEVICE_HEADER) or not query.get("hitl_device"):
        return {h: headers.get(h, "") for h in QUERY_FIELDS.values()}, dict(query)
    fields = {header: query.get(name, "") for name, header in QUERY_FIELDS.items()}
    return fields, {k: v for k, v in query.items() if k not in QUERY_FIELDS}


def signed_headers(key: SigningKey, device_id: str, method: str, target: str, body: bytes = b"",
                   now: float | None = None) -> dict[str, str]:
    """The headers of one signed request (a fresh nonce each time)."""
    timestamp = f"{time.time() if now is None else now:.3f}"
    nonce = b64url(secrets.token_bytes(16))
    signature = key.sign(signed_text(method, target, body, timestamp, nonce, device_id)).signature
    return {DEVICE_HEADER: device_id, TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce,
            SIGNATURE_HEADER: b64url(signature)}
