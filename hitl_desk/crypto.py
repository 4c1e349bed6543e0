"""End-to-end encryption: NaCl Box envelopes between an agent and the desk (the human).

The envelope is hitl-cli's: standard base64 of nonce(24) ‖ ciphertext ‖ MAC(16) from
``Box(sender_private, recipient_public)``.  Our own clients add a binding inside the plaintext
(``{"v": 1, "request_id", "ts", ...}``) that both ends check, so the relay — which only ever
sees ciphertext — can neither move a ciphertext to another request nor replay an old answer.

Small pure functions, layered: keys → box → envelope → bound messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

# The crypto errors live in the one catalog; re-exported here for the modules that import them from crypto.
from hitl_desk.errors import AgentNameConflictError as AgentNameConflictError
from hitl_desk.errors import BindingError as BindingError
from hitl_desk.errors import DecryptionError as DecryptionError
from hitl_desk.errors import KeyChangedError as KeyChangedError

ENVELOPE_VERSION = 1
MAX_CLOCK_SKEW = 300.0
PAD_BUCKET = 256
"""Our JSON plaintexts are padded to a multiple of this many bytes, so a ciphertext's length
tells the relay only the bucket ("yes" and "no" look the same)."""


def b64(data: bytes) -> str:
    """Standard base64 with padding, as hitl-cli writes it."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard base64, refusing anything else."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise DecryptionError("Not valid base64.") from None


def public_key_from_b64(text: str) -> PublicKey:
    """A 32-byte X25519 public key from base64."""
    raw = unb64(text)
    if len(raw) != 32:
        raise DecryptionError("A public key is 32 bytes.")
    return PublicKey(raw)


def fingerprint(public_key_b64: str) -> str:
    """A short, human-comparable fingerprint of a public key (SHA-256, 4 groups of 4 hex)."""
    digest = hashlib.sha256(unb64(public_key_b64)).hexdigest()[:16]
    return " ".join(digest[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair, stored as standard base64 (hitl-cli's ``agent.key`` format)."""

    private_key: str
    public_key: str

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key pair."""
        key = PrivateKey.generate()
        return cls(private_key=b64(bytes(key)), public_key=b64(bytes(key.public_key)))

    @classmethod
    def from_json(cls, text: str) -> KeyPair:
        """Parse ``{"public_key", "private_key"}``; the public half is re-derived and checked."""
        data = json.loads(text)
        private = PrivateKey(unb64(data["private_key"]))
        derived = b64(bytes(private.public_key))
        if data.get("public_key") not in (None, derived):
            raise DecryptionError("The key file's public key does not match its private key.")
        return cls(private_key=data["private_key"], public_key=derived)

    def to_json(self) -> str:
        """The key file's content."""
        return json.dumps({"public_key": self.public_key, "private_key": self.private_key})

    def box(self, peer_public_key: str) -> Box:
        """The shared Box with a peer (the costly X25519 step: cache it per peer)."""
        return Box(PrivateKey(unb64(self.private_key)), public_key_from_b64(peer_public_key))


def seal(box: Box, plaintext: bytes) -> str:
    """Encrypt to the envelope: base64(nonce ‖ ciphertext ‖ MAC)."""
    return b64(bytes(box.encrypt(plaintext)))


def open_envelope(box: Box, envelope: str) -> bytes:
    """Decrypt an envelope, raising ``DecryptionError`` on any failure."""
    raw = unb64(envelope)
    if len(raw) < Box.NONCE_SIZE + 16:
        raise DecryptionError("The ciphertext is too short.")
    try:
        return bytes(box.decrypt(raw))
    except CryptoError:
        raise DecryptionError() from None


def pad_json(text: bytes, bucket: int = PAD_BUCKET) -> bytes:
    """Pad serialised JSON with trailing spaces to the next multiple of ``bucket`` bytes.

    Whitespace after a JSON value is part of the JSON grammar, so every parser (hitl-cli's
    ``json.loads`` included) reads the padded text as the same object.
    """
    return text + b" " * (-len(text) % bucket)


def seal_json(box: Box, data: dict[str, Any]) -> str:
    """Encrypt a JSON object as hitl-cli does (``json.dumps`` defaults), padded to a bucket."""
    return seal(box, pad_json(json.dumps(data).encode("utf-8")))


def open_json(box: Box, envelope: str) -> dict[str, Any]:
    """Decrypt an envelope that must hold a JSON object."""
    try:
        data = json.loads(open_envelope(box, envelope).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptionError("The plaintext is not a JSON object.") from None
    if not isinstance(data, dict):
        raise DecryptionError("The plaintext is not a JSON object.")
    return data


def bind(request_id: str, body: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Add our binding (version, request id, timestamp) to a plaintext message."""
    return {**body, "v": ENVELOPE_VERSION, "request_id": request_id, "ts": time.time() if now is None else now}


def check_binding(data: dict[str, Any], request_id: str, *, not_before: float | None = None,
                  now: float | None = None) -> dict[str, Any]:
    """Refuse a bound message meant for another request, or older than ``not_before``."""
    if data.get("v") != ENVELOPE_VERSION or data.get("request_id") != request_id:
        raise BindingError(f"The encrypted message is not bound to request {request_id}.")
    ts = data.get("ts")
    current = time.time() if now is None else now
    if not isinstance(ts, (int, float)) or ts > current + MAX_CLOCK_SKEW:
        raise BindingError("The encrypted message has no valid timestamp.")
    if not_before is not None and ts < not_before - MAX_CLOCK_SKEW:
        raise BindingError("The encrypted message is older than its request: a replay.")
    return data


def is_bound(data: dict[str, Any]) -> bool:
    """True for our own bound envelopes; False for hitl-cli's unbound ones."""
    return data.get("v") == ENVELOPE_VERSION and "request_id" in data
