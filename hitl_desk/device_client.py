"""A paired device's side of the wire: its credential file and a client that signs every request.

``DeviceClient`` is a ``RelayClient`` whose calls go to the device routes (``/api/v1/device/…``)
signed with the device's Ed25519 key, so the approver core, ``pending``, ``answer`` and
``watch`` work unchanged on a second desktop; only the relay's address and the signature differ.
When the saved address stops answering (the desk moved to another LAN address), the client
looks for the relay advertising its desk key's fingerprint over mDNS, goes on there, and keeps
the new address (``DeviceClient.relocate``).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nacl.signing import SigningKey
from pydantic import BaseModel

from hitl_desk.client import M, RelayClient, _q
from hitl_desk.crypto import b64, fingerprint, unb64
from hitl_desk.device import DEVICE_PREFIX, canonical_target, signed_headers
from hitl_desk.errors import (
    AuthenticationError,
    InvalidRequestError,
    RelayUnavailableError,
    SignatureExpiredError,
)
from hitl_desk.keystore import desk_key_path, load_keypair
from hitl_desk.models import Agent, ApiKeyInfo
from hitl_desk.settings import Settings, write_private
from hitl_desk.stream import EventStream

log = logging.getLogger(__name__)
DEVICE_FILE = "device.json"
RELOCATE_SECONDS = 5.0
"""How long a device listens over mDNS for its desk when the saved address does not answer."""
RELOCATE_EVERY = 15.0
"""The least time between two searches (a desk that is down is not looked for on every retry)."""


@dataclass(frozen=True)
class DeviceCredential:
    """What pairing left on this machine: the relay, the device's id and its signing key (0600)."""

    relay_url: str
    device_id: str
    name: str
    signing_key: str
    """Standard base64 of the Ed25519 seed; never sent anywhere."""

    @staticmethod
    def path(settings: Settings) -> Path:
        """Where the credential lives: ``HITL_HOME/device.json``."""
        return settings.home / DEVICE_FILE

    @classmethod
    def load(cls, settings: Settings) -> DeviceCredential | None:
        """The credential of this home, or None when it was never paired."""
        try:
            data = json.loads(cls.path(settings).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise AuthenticationError(f"Cannot read the device credential {cls.path(settings)} ({exc}): remove "
                                      "it and pair again (hitl-desk pair URL).") from None
        return cls(**{k: str(data[k]) for k in ("relay_url", "device_id", "name", "signing_key")})

    def save(self, settings: Settings) -> None:
        """Write the credential, readable by its owner only."""
        write_private(self.path(settings), json.dumps(asdict(self), indent=2))

    @property
    def key(self) -> SigningKey:
        """The signing key."""
        return SigningKey(unb64(self.signing_key))

    @staticmethod
    def seed(key: SigningKey) -> str:
        """How a signing key is stored."""
        return b64(bytes(key))


class DeviceClient(RelayClient):
    """A ``RelayClient`` for a paired device: every call signed, on the device routes."""

    def __init__(self, credential: DeviceCredential, base_url: str | None = None, *, timeout: float = 60.0,
                 via: str | None = None, settings: Settings | None = None) -> None:
        super().__init__(base_url or credential.relay_url, None, timeout=timeout, via=via)
        self.device = credential
        self._key = credential.key
        self._skew = 0.0  # the relay's clock minus ours, learnt from a signature_expired answer
        chosen = base_url is not None and base_url.rstrip("/") != credential.relay_url.rstrip("/")
        self._home = None if chosen else settings
        """Where the credential and the desk key are, to find the desk again (not for another URL given)."""
        self._searched_at = -RELOCATE_EVERY

    async def relocate(self) -> bool:
        """Find the desk again after its address changed: the relay advertising the fingerprint of
        the desk key this device holds, asked over mDNS from this machine's address towards the old
        one.  True when it answers elsewhere now; the new address is kept in the credential."""
        now = time.monotonic()
        if self._home is None or now - self._searched_at < RELOCATE_EVERY:
            return False
        self._searched_at = now
        desk = load_keypair(desk_key_path(self._home))
        if desk is None:
            return False
        from hitl_desk.discovery import find  # zeroconf loads only once the desk went missing

        found = await find(fingerprint(desk.public_key), _address_towards(self.base_url), timeout=RELOCATE_SECONDS)
        if found is None or found.url.rstrip("/") == self.base_url:
            return False
        log.info("the desk moved from %s to %s", self.base_url, found.url)
        self.base_url = found.url.rstrip("/")
        self.device = replace(self.device, relay_url=self.base_url)
        self.device.save(self._home)
        return True

    def _device_path(self, path: str) -> str:
        if not path.startswith("/api/v1/"):
            raise InvalidRequestError(f"A paired device has no route {path!r}.")
        return DEVICE_PREFIX + path.removeprefix("/api/v1")

    def sign(self, method: str, path: str, query: dict[str, str], body: bytes = b"") -> dict[str, str]:
        """The signature headers of one request (a fresh nonce and the current time)."""
        return signed_headers(self._key, self.device.device_id, method, canonical_target(path, query), body,
                              now=time.time() + self._skew)

    async def _call(self, method: str, path: str, model: type[M] | None = None, *,
                    body: BaseModel | None = None, params: dict[str, Any] | None = None,
                    timeout: float | None = None, renewed: bool = False) -> Any:
        # ``renewed`` belongs to OAuth sign-ins; a device's signing key never needs renewing.
        try:
            return await self._timed_call(method, path, model, body, params, timeout)
        except RelayUnavailableError:
            if not await self.relocate():
                raise
            return await self._timed_call(method, path, model, body, params, timeout)

    async def _timed_call(self, method: str, path: str, model: type[M] | None, body: BaseModel | None,
                          params: dict[str, Any] | None, timeout: float | None) -> Any:
        try:
            return await self._signed_call(method, path, model, body, params, timeout)
        except SignatureExpiredError as exc:  # our clock is off: learn the relay's and try once more
            server_time = exc.details.get("server_time") if isinstance(exc.details, dict) else None
            if not isinstance(server_time, (int, float)):
                raise
            self._skew = float(server_time) - time.time()
            return await self._signed_call(method, path, model, body, params, timeout)

    async def _signed_call(self, method: str, path: str, model: type[M] | None, body: BaseModel | None,
                           params: dict[str, Any] | None, timeout: float | None) -> Any:
        device_path = self._device_path(path)
        query = {k: _q(v) for k, v in (params or {}).items() if v is not None}
        raw = b"" if body is None else json.dumps(body.model_dump(mode="json", exclude_none=True)).encode()
        headers = self.sign(method, device_path, query, raw)
        if raw:
            headers["Content-Type"] = "application/json"
        status, payload = await self._exchange(method, device_path, timeout, data=raw or None, params=query,
                                               headers=headers)
        return self._result(status, payload, model)

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """None: keys are the desk's to manage, never a device's (the TUI's directory stays empty)."""
        return []

    async def list_agents(self) -> list[Agent]:
        """None: agents are the desk's to manage."""
        return []

    def event_stream(self, since: int | None = None) -> EventStream:
        """Follow the relay's events on the device route, each connection signed anew."""
        return EventStream(self, since, path=DEVICE_PREFIX + "/events",
                           sign=lambda path, query: self.sign("GET", path, query), unreachable=self.relocate)


def approver_client(settings: Settings, url: str | None = None, *, via: str | None = None) -> RelayClient:
    """The client an approver command uses: the owner's on the desk, the device's on a paired machine.

    A home paired as a device (``hitl-desk pair URL`` wrote its credential; the desk never has
    one) talks to its desk's relay, at ``url`` or ``HITL_SERVER_URL`` if given; any other home is
    the desk, with the owner credential.
    """
    credential = DeviceCredential.load(settings)
    if credential is None:
        return RelayClient.for_owner(settings, url, via=via)
    return DeviceClient(credential, url or (settings.server_url if settings.server_url_set else None), via=via,
                        settings=settings)


def _address_towards(url: str) -> list[str] | None:
    """This machine's address on the route to ``url``'s host (nothing is sent); None without a route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((urlsplit(url).hostname or "", 9))
            return [str(probe.getsockname()[0])]
    except OSError:  # no route there any more: the machine's LAN addresses are asked
        return None
