"""The two ends of a pairing (``hitl_desk.pairing`` has the exchange and its cryptography).

``DeskHandshake`` runs on the desk with the owner credential and the desk key: it opens the
pairing, checks the device, reveals, and after the human confirms, seals the desk key to the
device.  ``DeviceHandshake`` runs on the new device with nothing but the link.  Both check every
MAC and commitment themselves: the relay in between is trusted with nothing.
"""

from __future__ import annotations

import logging
import time

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair, b64, unb64
from hitl_desk.device import (
    DeskReveal,
    NonceReveal,
    PairingConfirm,
    PairingDelivery,
    PairingJoin,
    PairingStart,
    PairingState,
    PairingStop,
    StopReason,
)
from hitl_desk.device_client import DeviceCredential
from hitl_desk.errors import (
    DecryptionError,
    HitlError,
    PairingExpiredError,
    PairingFailedError,
    PairingSecretError,
    error_from_payload,
)
from hitl_desk.pairing import (
    PairingLink,
    check_mac,
    commitment,
    commitment_holds,
    mac,
    new_nonce,
    verification_code,
)

log = logging.getLogger(__name__)
POLL = 20.0
"""Seconds one long-poll for the next step waits on the relay."""
OWNER_PAIRINGS = "/api/v1/devices/pairings"
DEVICE_PAIRINGS = "/api/v1/pair"


async def _follow(client: RelayClient, path: str, state: PairingState, *wanted: str) -> PairingState:
    """Long-poll the pairing until it reaches one of ``wanted`` (raising why it failed, if it did)."""
    while state.status not in wanted:
        if state.status == "failed":
            assert state.failure is not None
            raise error_from_payload(409, {"error": state.failure.model_dump()})
        if time.time() > state.expires_at.timestamp() + 5:
            raise PairingExpiredError()
        state = await client.call("GET", path, PairingState, params={"after": state.version, "wait": POLL},
                                  timeout=POLL + 30)
    return state


def _code(state: PairingState) -> str:
    return verification_code(state.pairing_id, state.desk_public_key or "", state.box_public_key or "",
                             state.verify_key or "", state.desk_nonce or "", state.device_nonce or "")


class DeskHandshake:
    """The desk's end: open the pairing, check the device, reveal, confirm, deliver the desk key."""

    def __init__(self, client: RelayClient, desk: KeyPair, device_url: str | None = None) -> None:
        self.client = client
        self.desk = desk
        self.device_url = device_url
        self.nonce = new_nonce()
        self.state: PairingState | None = None
        self.checked: PairingState | None = None
        self.link: PairingLink | None = None

    @property
    def _path(self) -> str:
        assert self.state is not None, "start() first"
        return f"{OWNER_PAIRINGS}/{self.state.pairing_id}"

    async def start(self) -> PairingLink:
        """Open the pairing with the desk's commitment; the link's secret is made here, never sent."""
        self.state = await self.client.call("POST", OWNER_PAIRINGS, PairingState, body=PairingStart(
            desk_commitment=commitment("desk", self.nonce, self.desk.public_key)))
        self.link = PairingLink.new(self.device_url or self.state.device_url or self.client.base_url,
                                    self.state.pairing_id)
        return self.link

    async def device_joined(self) -> PairingState:
        """Wait for a device to join and reveal; refuse one that does not know the link's secret."""
        assert self.state is not None and self.link is not None
        state = self.state = await _follow(self.client, self._path, self.state, "revealed")
        try:
            check_mac(self.link.secret, state.device_mac, "join", state.pairing_id, state.device_name or "",
                      state.box_public_key or "", state.verify_key or "", state.device_commitment or "")
            if not commitment_holds(state.device_commitment, "device", state.device_nonce or "",
                                    state.box_public_key or "", state.verify_key or ""):
                raise PairingFailedError("The device's nonce is not the one it committed to.")
        except PairingSecretError:
            await self.stop("secret_mismatch")
            raise
        self.checked = state  # what the MAC vouches for: later answers of the relay cannot change it
        return state

    async def reveal(self) -> str:
        """Reveal the desk's nonce (MACed); returns the verification code to show the human."""
        assert self.checked is not None and self.link is not None
        s = self.checked
        self.state = await self.client.call("POST", f"{self._path}/reveal", PairingState, body=DeskReveal(
            nonce=self.nonce, desk_public_key=self.desk.public_key,
            mac=mac(self.link.secret, "desk", s.pairing_id, self.desk.public_key, self.nonce,
                    s.box_public_key or "", s.verify_key or "", s.device_commitment or "")))
        return _code(s.model_copy(update={"desk_public_key": self.desk.public_key, "desk_nonce": self.nonce}))

    async def confirm(self, code: str) -> str:
        """The human said the codes match: confirm (unless another owner approver confirmed the
        same code already), then seal the desk key to the device; its id."""
        assert self.checked is not None and self.link is not None and self.checked.box_public_key
        device_key = self.checked.box_public_key  # the key the MAC and the human's code vouch for
        self.state = await self.client.call("GET", self._path, PairingState)
        if self.state.status != "confirmed":
            self.state = await self.client.call("POST", f"{self._path}/confirm", PairingState,
                                                body=PairingConfirm(code=code))
        sealed = b64(SealedBox(PublicKey(unb64(device_key))).encrypt(self.desk.to_json().encode()))
        self.state = await self.client.call("POST", f"{self._path}/deliver", PairingState, body=PairingDelivery(
            sealed_desk_key=sealed, mac=mac(self.link.secret, "deliver", self.state.pairing_id, sealed)))
        assert self.state.device_id is not None
        return self.state.device_id

    async def stop(self, reason: StopReason = "cancelled") -> None:
        """End the pairing on the relay (the device hears why); nothing was shared."""
        if self.state is None:
            return
        try:
            await self.client.call("POST", f"{self._path}/stop", PairingState, body=PairingStop(reason=reason))
        except HitlError as exc:  # finished or gone already: nothing left to stop
            log.info("the pairing had ended already: %s", exc.message)


class DeviceHandshake:
    """The new device's end: join with fresh keys, check the desk, receive the desk key."""

    def __init__(self, client: RelayClient, link: PairingLink, name: str) -> None:
        self.client = client
        self.link = link
        self.name = name.strip()  # as the relay keeps it: the MAC covers the same text
        self.signing = SigningKey.generate()
        self.box = PrivateKey.generate()
        self.nonce = new_nonce()
        self.box_public_key = b64(bytes(self.box.public_key))
        self.verify_key = b64(bytes(self.signing.verify_key))
        self.state: PairingState | None = None

    @property
    def _path(self) -> str:
        return f"{DEVICE_PAIRINGS}/{self.link.pairing_id}"

    async def join(self) -> None:
        """Send the device's keys and commitment (MACed), then its nonce once the desk's commitment is in."""
        self.commitment = own = commitment("device", self.nonce, self.box_public_key, self.verify_key)
        joined = await self.client.call("POST", f"{self._path}/join", PairingState, body=PairingJoin(
            name=self.name, box_public_key=self.box_public_key, verify_key=self.verify_key, commitment=own,
            mac=mac(self.link.secret, "join", self.link.pairing_id, self.name, self.box_public_key,
                    self.verify_key, own)))
        self.desk_commitment = joined.desk_commitment  # fixed before our nonce leaves this machine
        self.state = await self.client.call("POST", f"{self._path}/reveal", PairingState,
                                            body=NonceReveal(nonce=self.nonce))

    async def code(self) -> str:
        """Wait for the desk to reveal; check it; the verification code to show the human."""
        assert self.state is not None
        s = self.state = await _follow(self.client, self._path, self.state, "desk_revealed", "confirmed", "paired")
        if not commitment_holds(self.desk_commitment, "desk", s.desk_nonce or "", s.desk_public_key or ""):
            raise PairingFailedError("The desk's nonce is not the one it committed to: someone is in the middle.")
        check_mac(self.link.secret, s.desk_mac, "desk", s.pairing_id, s.desk_public_key or "", s.desk_nonce or "",
                  self.box_public_key, self.verify_key, self.commitment)
        if (s.box_public_key, s.verify_key) != (self.box_public_key, self.verify_key):
            raise PairingFailedError("The relay relayed other device keys than ours: pairing stopped.")
        return _code(s)

    async def finish(self) -> tuple[DeviceCredential, KeyPair]:
        """Wait for the human's confirmation; open the sealed desk key; the credential to keep."""
        assert self.state is not None
        s = self.state = await _follow(self.client, self._path, self.state, "paired")
        check_mac(self.link.secret, s.delivery_mac, "deliver", s.pairing_id, s.sealed_desk_key or "")
        try:
            desk = KeyPair.from_json(SealedBox(self.box).decrypt(unb64(s.sealed_desk_key or "")).decode())
        except (CryptoError, DecryptionError, ValueError, KeyError):
            raise PairingFailedError("The sealed desk key could not be opened: pairing stopped.") from None
        if desk.public_key != s.desk_public_key or s.device_id is None:
            raise PairingFailedError("The desk key delivered is not the one the desk showed: pairing stopped.")
        credential = DeviceCredential(relay_url=self.link.device_url, device_id=s.device_id, name=self.name,
                                      signing_key=DeviceCredential.seed(self.signing))
        return credential, desk

