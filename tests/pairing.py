"""Pairing in tests: both ends of the real handshake against a live relay, in this process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair
from hitl_desk.device_client import DeviceClient, DeviceCredential
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.handshake import DeskHandshake, DeviceHandshake
from hitl_desk.keyring import TrustStore, desk_key_path
from hitl_desk.settings import Settings, write_private
from tests.conftest import LiveRelay


async def desk_keys(relay: LiveRelay) -> KeyPair:
    """The desk key, made by the desk's first approver and registered with the relay."""
    async with relay.owner() as owner:
        desk = await DeskEncryption.ensure(owner, relay.settings)
    assert desk.keys is not None
    return desk.keys


async def pair_device(relay: LiveRelay, name: str = "second-desk") -> tuple[DeviceCredential, KeyPair]:
    """Run a whole pairing (the human confirming the code the desk shows); the device's credential
    and the desk key it received."""
    async with relay.owner() as owner, RelayClient(relay.url) as anonymous:
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
