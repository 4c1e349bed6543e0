"""Pairing a device with the desk (DESIGN.md §7): the link, the commitments, the MACs, the code.

The exchange, relayed by the relay, which sees only public values:

1. The desk commits to a nonce: ``C_D = H(desk key, n_D)``; the relay opens a pairing for 5 minutes.
   The link (QR code) is ``{device_url}/pair#p={pairing_id}&s={secret}``: the 128-bit secret sits in
   the fragment, which browsers never send, and our client never sends either.
2. The device sends its public keys and its commitment ``C_V``, MACed with the secret (it saw the
   link), and receives ``C_D``; then it reveals ``n_V``.
3. The desk checks the device's MAC and commitment, then reveals ``n_D`` and its key, MACed.
4. Both show ``code(pairing id, both keys, both nonces)``: each nonce was fixed before the other
   side's was known, so a man in the middle (even one who saw the link) gets one guess in a million.
5. The human confirms on the desk; the desk key travels sealed to the device's key, MACed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from hitl_desk.device import b64url, unb64url
from hitl_desk.errors import InvalidRequestError, PairingSecretError

SECRET_BYTES = 16
NONCE_BYTES = 32
PAIRING_TTL = 300.0
"""Seconds a pairing link works (once)."""
_DOMAIN = b"hitl-desk/pairing/v1"


def _encode(label: str, *parts: str) -> bytes:
    """Length-prefixed parts, so no two different lists of parts encode the same."""
    out = bytearray(_DOMAIN)
    for part in (label, *parts):
        data = part.encode("utf-8")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def new_nonce() -> str:
    """A fresh 256-bit nonce, url-safe base64."""
    return b64url(secrets.token_bytes(NONCE_BYTES))


def commitment(role: str, nonce: str, *keys: str) -> str:
    """A side's commitment to its nonce and keys: reveals nothing until the nonce is shown."""
    return b64url(hashlib.sha256(_encode(f"commit:{role}", nonce, *keys)).digest())


def commitment_holds(expected: str | None, role: str, nonce: str, *keys: str) -> bool:
    """Whether a revealed nonce and keys are what the side committed to."""
    return expected is not None and hmac.compare_digest(expected, commitment(role, nonce, *keys))


def mac(secret: bytes, label: str, *parts: str) -> str:
    """HMAC-SHA256 of the parts under the link's secret: proves the sender saw the link."""
    return b64url(hmac.new(secret, _encode(f"mac:{label}", *parts), hashlib.sha256).digest())


def check_mac(secret: bytes, given: str | None, label: str, *parts: str) -> None:
    """Refuse a message not MACed with this link's secret (``PairingSecretError``)."""
    if given is None or not hmac.compare_digest(given, mac(secret, label, *parts)):
        raise PairingSecretError("The other side's message was not made with this link's secret: it never saw "
                                 "the QR code (or someone is in the middle). Pairing stopped; nothing was shared.")


def verification_code(pairing_id: str, desk_public_key: str, box_public_key: str, verify_key: str,
                      desk_nonce: str, device_nonce: str) -> str:
    """The 6-digit code both screens show (the relay can compute it too: it is not a secret)."""
    digest = hashlib.sha256(_encode("code", pairing_id, desk_public_key, box_public_key, verify_key,
                                    desk_nonce, device_nonce)).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


@dataclass(frozen=True)
class PairingLink:
    """What the QR code carries: where the relay is for devices, which pairing, and its secret."""

    device_url: str
    pairing_id: str
    secret: bytes

    @classmethod
    def new(cls, device_url: str, pairing_id: str) -> PairingLink:
        """A link with a fresh 128-bit secret (made on the desk, never sent to the relay)."""
        return cls(device_url.rstrip("/"), pairing_id, secrets.token_bytes(SECRET_BYTES))

    @property
    def url(self) -> str:
        """The link as text and QR code: the secret in the fragment, which is never sent."""
        return f"{self.device_url}/pair#p={self.pairing_id}&s={b64url(self.secret)}"

    @classmethod
    def parse(cls, text: str) -> PairingLink:
        """Read a link (``InvalidRequestError`` with what is wrong when it is not one)."""
        parts = urlsplit(text.strip())
        fields = parse_qs(parts.fragment)
        pairing_id, secret = fields.get("p", [""])[0], fields.get("s", [""])[0]
        if parts.scheme not in ("http", "https") or not parts.hostname or not pairing_id or not secret:
            raise InvalidRequestError("Not a pairing link: expected http://ADDRESS:PORT/pair#p=ID&s=SECRET, as "
                                      "`hitl-desk pair` prints it on the desk.")
        try:
            raw = unb64url(secret)
        except ValueError:
            raw = b""
        if len(raw) != SECRET_BYTES:
            raise InvalidRequestError("The pairing link's secret is damaged: copy the whole link again.")
        base = f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix('/pair')}"
        return cls(base.rstrip("/"), pairing_id, raw)
