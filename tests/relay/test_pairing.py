"""The pairing exchange fails loudly: a wrong code, an expired or reused link, a device without
the link's secret; each with its catalog error on both sides, no device made, nothing shared."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.device import DeviceList, PairingConfirm, PairingState, b64url
from hitl_desk.errors import (
    InvalidRequestError,
    PairingCodeMismatchError,
    PairingExpiredError,
    PairingFailedError,
    PairingNotFoundError,
    PairingSecretError,
    PairingUsedError,
    RateLimitedError,
)
from hitl_desk.handshake import DeskHandshake, DeviceHandshake
from hitl_desk.pairing import PairingLink, verification_code
from tests.conftest import LiveRelay
from tests.pairing import desk_keys, lan_relay, lan_url, pair_device
from tests.secrecy import assert_relay_kept_none_of


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


async def _devices(relay: LiveRelay) -> list[str]:
    async with relay.owner() as owner:
        return [d.id for d in (await owner.call("GET", "/api/v1/devices", DeviceList)).devices]


async def test_the_link_carries_its_secret_only_in_the_fragment(relay: LiveRelay) -> None:
    async with relay.owner() as owner:
        link = await DeskHandshake(owner, await desk_keys(relay)).start()
    assert link.url.startswith(f"{lan_url(relay)}/pair#p={link.pairing_id}&s=")
    assert PairingLink.parse(link.url) == link
    with pytest.raises(InvalidRequestError):
        PairingLink.parse(link.url.split("&s=")[0])


async def test_a_wrong_code_voids_the_pairing_on_both_sides(relay: LiveRelay) -> None:
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        device = DeviceHandshake(anonymous, await desk.start(), "phone")
        await device.join()
        await desk.device_joined()
        code = await desk.reveal()
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        with pytest.raises(PairingCodeMismatchError):  # the REST route any owner approver confirms with
            await owner.call("POST", f"/api/v1/devices/pairings/{desk.link.pairing_id}/confirm",  # type: ignore[union-attr]
                             PairingState, body=PairingConfirm(code=wrong))
        with pytest.raises(PairingCodeMismatchError):  # the one guess is spent
            await desk.confirm(code)
        with pytest.raises(PairingCodeMismatchError):
            await device.code()
    assert await _devices(relay) == []


async def test_the_human_saying_the_codes_differ_stops_the_device_too(relay: LiveRelay) -> None:
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        device = DeviceHandshake(anonymous, await desk.start(), "phone")
        await device.join()
        await desk.device_joined()
        await desk.reveal()
        await device.code()
        await desk.stop("codes_differ")
        with pytest.raises(PairingCodeMismatchError):
            await device.finish()
    assert await _devices(relay) == []


async def test_a_device_without_the_links_secret_is_refused_by_the_desk(relay: LiveRelay) -> None:
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        link = await desk.start()
        forged = dataclasses.replace(link, secret=bytes(16))  # knows the id (it crossed the LAN), not the secret
        device = DeviceHandshake(anonymous, forged, "intruder")
        await device.join()
        with pytest.raises(PairingSecretError):
            await desk.device_joined()
        with pytest.raises(PairingSecretError):
            await device.code()
    assert await _devices(relay) == []


async def test_a_link_works_once(relay: LiveRelay) -> None:
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        link = await desk.start()
        await DeviceHandshake(anonymous, link, "first").join()
        with pytest.raises(PairingUsedError):
            await DeviceHandshake(anonymous, link, "second").join()


async def test_a_finished_pairing_link_is_refused_as_used(relay: LiveRelay) -> None:
    await pair_device(relay)
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        link = await desk.start()
        paired = asyncio.ensure_future(_complete(desk, DeviceHandshake(anonymous, link, "phone")))
        await paired
        with pytest.raises(PairingUsedError):
            await DeviceHandshake(anonymous, link, "again").join()
    assert len(await _devices(relay)) == 2


async def _complete(desk: DeskHandshake, device: DeviceHandshake) -> None:
    await device.join()
    await desk.device_joined()
    code = await desk.reveal()
    assert await device.code() == code
    finishing = asyncio.ensure_future(device.finish())
    await desk.confirm(code)
    await finishing


async def test_an_expired_link_is_refused(tmp_path: Path) -> None:
    async with lan_relay(tmp_path, pairing_ttl=0.0) as relay:  # every link is past its time when used
        async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
            link = await DeskHandshake(owner, await desk_keys(relay)).start()
            with pytest.raises(PairingExpiredError):
                await DeviceHandshake(anonymous, link, "late").join()
            with pytest.raises(PairingNotFoundError):
                await DeviceHandshake(anonymous, dataclasses.replace(link, pairing_id="pair_0000"), "x").join()


async def test_too_many_open_pairings_are_refused(relay: LiveRelay) -> None:
    async with relay.owner() as owner:
        keys = await desk_keys(relay)
        for _ in range(8):
            await DeskHandshake(owner, keys).start()
        with pytest.raises(RateLimitedError):
            await DeskHandshake(owner, keys).start()


def test_the_code_depends_on_every_key_and_nonce() -> None:
    parts = ["pair_1", "d" * 44, "b" * 44, "v" * 44, "n1", "n2"]
    code = verification_code(*parts)
    assert len(code) == 6 and code.isdigit()
    for i in range(len(parts)):
        changed = [*parts]
        changed[i] += "x"
        assert verification_code(*changed) != code


async def test_neither_the_links_secret_nor_the_desk_key_reaches_the_relay_or_the_logs(
        relay: LiveRelay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = await desk_keys(relay)
    async with relay.owner() as owner, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, keys)
        link = await desk.start()
        await _complete(desk, DeviceHandshake(anonymous, link, "phone"))
    await assert_relay_kept_none_of(relay, b64url(link.secret), keys.private_key, logs=caplog)


async def test_another_owner_approver_confirms_over_rest_and_the_desk_delivers(relay: LiveRelay) -> None:
    async with relay.owner() as owner, relay.owner() as other, RelayClient(lan_url(relay)) as anonymous:
        desk = DeskHandshake(owner, await desk_keys(relay))
        device = DeviceHandshake(anonymous, await desk.start(), "tablet")
        await device.join()
        await desk.device_joined()
        code = await desk.reveal()
        assert await device.code() == code
        confirmed = await other.call("POST", f"/api/v1/devices/pairings/{desk.link.pairing_id}/confirm",  # type: ignore[union-attr]
                                     PairingState, body=PairingConfirm(code=code))
        assert confirmed.status == "confirmed"
        finishing = asyncio.ensure_future(device.finish())
        device_id = await desk.confirm(code)
        credential, _ = await finishing
    assert credential.device_id == device_id and await _devices(relay) == [device_id]


async def test_a_relay_without_a_lan_listener_refuses_to_pair(tmp_path: Path) -> None:
    from tests.conftest import live_relay

    async with live_relay(tmp_path) as relay, relay.owner() as owner:
        with pytest.raises(PairingFailedError) as refused:
            await DeskHandshake(owner, await desk_keys(relay)).start()
    assert "--lan" in refused.value.message
