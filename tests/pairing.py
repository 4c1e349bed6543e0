"""Pairing in tests: a relay with its LAN listener on 127.0.0.2, and both ends of the real
handshake against it, in this process (the desk on loopback, the device on the LAN address)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair
from hitl_desk.device_client import DeviceClient, DeviceCredential
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.handshake import DeskHandshake, DeviceHandshake
from hitl_desk.keystore import TrustStore, desk_key_path
from hitl_desk.settings import Settings, write_private
from relay.lan import lan_listener
from tests.conftest import LiveRelay, live_relay

LAN_ADDRESS = "127.0.0.2"
"""The LAN listener's address in these tests: on ``lo``, so nothing leaves the machine."""


@asynccontextmanager
async def lan_relay(tmp_path: Path, **config: Any) -> AsyncIterator[LiveRelay]:
    """A live relay with its LAN listener on ``LAN_ADDRESS`` (no mDNS), which serves devices."""
    async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False, **config) as live:
        yield live


def lan_url(relay: LiveRelay) -> str:
    """The LAN listener's base URL: where devices reach the relay."""
    return lan_listener(relay.running.app).urls[0]


async def desk_keys(relay: LiveRelay) -> KeyPair:
    """The desk key, made by the desk's first approver and registered with the relay."""
    async with relay.owner() as owner:
        desk = await DeskEncryption.ensure(owner, relay.settings)
    assert desk.keys is not None
    return desk.keys


async def pair_device(relay: LiveRelay, name: str = "second-desk") -> tuple[DeviceCredential, KeyPair]:
    """Run a whole pairing (the human confirming the code the desk shows); the device's credential
    and the desk key it received."""
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        link = await desk.start()
        device = DeviceHandshake(anonymous, link, name)
        await device.join()
        await desk.device_joined()
        desk_code = await desk.reveal()
        assert await device.code() == desk_code
        finished = asyncio.ensure_future(device.finish())
        await desk.confirm(desk_code)
        return await finished


def install_device(home: Path, credential: DeviceCredential, desk: KeyPair) -> Settings:
    """Keep a paired device's files in ``home`` as ``hitl-desk pair URL`` does."""
    settings = Settings(home=home, server_url=credential.relay_url, server_url_set=True)
    write_private(desk_key_path(settings), desk.to_json())
    credential.save(settings)
    TrustStore(settings).trust_desk(desk.public_key)
    return settings


async def paired_client(relay: LiveRelay, name: str = "second-desk") -> DeviceClient:
    """A signed client for a freshly paired device."""
    credential, _ = await pair_device(relay, name)
    return DeviceClient(credential)
