"""Paired devices: every request signed, replays and stale signatures refused, revocation at once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from nacl.signing import SigningKey

from hitl_desk.client import RelayClient
from hitl_desk.device import DEVICE_PREFIX, Device, DeviceList, canonical_target, signed_headers
from hitl_desk.device_client import DeviceClient, DeviceCredential
from hitl_desk.errors import AuthenticationError, DeviceNotFoundError, DeviceRevokedError
from relay.lan import lan_listener
from relay.openapi import RouteTable
from tests.conftest import LiveRelay, start_relay
from tests.deadline import until
from tests.pairing import LAN_ADDRESS, lan_relay, lan_url, paired_client


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


async def _raw(relay: LiveRelay, method: str, path: str, headers: dict[str, str],
               body: bytes = b"") -> tuple[int, dict[str, object]]:
    """One request to the LAN listener for device paths, to the loopback one for the others."""
    base = lan_url(relay) if path.startswith(("/api/v1/device/", "/api/v1/pair")) else relay.url
    async with aiohttp.ClientSession() as http:
        async with http.request(method, base + path, data=body or None,
                                headers={**headers, "Content-Type": "application/json"} if body else headers) as resp:
            return resp.status, await resp.json()


def _signed(client: DeviceClient, method: str, path: str, body: bytes = b"",
            now: float | None = None) -> dict[str, str]:
    return signed_headers(client.device.key, client.device.device_id, method, canonical_target(path, {}), body, now)


async def test_a_paired_device_answers_with_signed_requests_and_is_listed(relay: LiveRelay) -> None:
    device = await paired_client(relay, "second-desk")
    async with relay.owner() as owner, device:
        asked = await owner.create_request("Deploy?", choices=["yes", "no"])
        pending = await device.list_requests("pending")
        assert [r.id for r in pending] == [asked.id]
        answered = await device.answer(asked.id, "yes")
        assert (answered.status, answered.response, answered.answered_by) == ("answered", "yes", "device:second-desk")
        listed = await owner.call("GET", "/api/v1/devices", DeviceList)
    [shown] = listed.devices
    assert (shown.id, shown.name, shown.revoked_at) == (device.device.device_id, "second-desk", None)
    assert shown.last_seen_at is not None


async def test_a_replayed_signed_request_is_refused(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    path = f"{DEVICE_PREFIX}/hitl/requests"
    headers = _signed(device, "GET", path)
    first = await _raw(relay, "GET", path, headers)
    again = await _raw(relay, "GET", path, headers)
    assert first[0] == 200
    assert (again[0], again[1]["error"]["code"]) == (401, "signature_replayed")  # type: ignore[index]


async def test_a_stale_signature_is_refused_with_the_relays_time(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    path = f"{DEVICE_PREFIX}/hitl/requests"
    status, body = await _raw(relay, "GET", path, _signed(device, "GET", path, now=time.time() - 120))
    assert (status, body["error"]["code"]) == (401, "signature_expired")  # type: ignore[index]
    assert abs(body["error"]["details"]["server_time"] - time.time()) < 30  # type: ignore[index]


async def test_a_signature_over_another_body_is_refused_and_changes_nothing(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    async with relay.owner() as owner:
        asked = await owner.create_request("Which?", choices=["a", "b"])
        path = f"{DEVICE_PREFIX}/hitl/requests/{asked.id}/answer"
        headers = _signed(device, "POST", path, json.dumps({"response": "a"}).encode())
        status, body = await _raw(relay, "POST", path, headers, json.dumps({"response": "b"}).encode())
        assert (status, body["error"]["code"]) == (401, "device_unauthorized")  # type: ignore[index]
        assert (await owner.get_request(asked.id)).status == "pending"


async def test_an_unpaired_device_asking_for_events_is_refused(relay: LiveRelay) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as plain:
            await http.ws_connect(f"{lan_url(relay)}{DEVICE_PREFIX}/events")
        stranger = DeviceCredential(lan_url(relay), "dev_0000000000000000", "stranger",
                                    DeviceCredential.seed(SigningKey.generate()))
        async with DeviceClient(stranger) as client:
            headers = client.sign("GET", f"{DEVICE_PREFIX}/events", {})
        with pytest.raises(aiohttp.WSServerHandshakeError) as unknown:
            await http.ws_connect(f"{lan_url(relay)}{DEVICE_PREFIX}/events", headers=headers)
    assert plain.value.status == unknown.value.status == 401
    async with DeviceClient(stranger) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.list_requests("pending")
    assert refused.value.code == "device_unauthorized"


async def test_the_owner_token_opens_no_device_route_and_a_device_no_owner_route(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    status, body = await _raw(relay, "GET", f"{DEVICE_PREFIX}/hitl/requests",
                              {"Authorization": f"Bearer {relay.owner_token}"})
    assert (status, body["error"]["code"]) == (401, "device_unauthorized")  # type: ignore[index]
    status, body = await _raw(relay, "GET", "/api/v1/devices", _signed(device, "GET", "/api/v1/devices"))
    assert (status, body["error"]["code"]) == (401, "unauthorized")  # type: ignore[index]


async def test_revoking_a_device_closes_its_stream_and_refuses_it_at_once(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    stream = device.event_stream()
    followed = asyncio.ensure_future(_drain(stream))
    try:
        await asyncio.wait_for(stream.ready.wait(), 10)
        async with relay.owner() as owner:
            revoked = await owner.call("DELETE", f"/api/v1/devices/{device.device.device_id}", Device)
            assert revoked.revoked_at is not None
            with pytest.raises(DeviceRevokedError):
                await asyncio.wait_for(followed, 10)  # the socket closed and the reconnect was refused
            with pytest.raises(DeviceRevokedError):
                await device.list_requests("pending")
    finally:
        followed.cancel()
        await device.close()


async def _drain(stream: object) -> None:
    async for _ in stream:  # type: ignore[attr-defined]
        pass


async def test_revoking_an_unknown_device_is_404_device_not_found(owner: RelayClient) -> None:
    with pytest.raises(DeviceNotFoundError):
        await owner.call("DELETE", "/api/v1/devices/dev_unknown", Device)


async def test_the_device_stream_carries_the_owners_frames(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    seen: list[str] = []

    async def follow() -> None:
        async for event in device.event_stream(0):
            seen.append(f"{event.type} {event.request.prompt}")

    task = asyncio.ensure_future(follow())
    try:
        async with relay.owner() as owner:
            await owner.create_request("Seen by the device?")
        await until(lambda: "request.created Seen by the device?" in seen, "the device's event")
    finally:
        task.cancel()
        await device.close()


async def test_unsigned_device_requests_count_toward_the_auth_failure_limit(relay: LiveRelay) -> None:
    statuses = [(await _raw(relay, "GET", f"{DEVICE_PREFIX}/hitl/requests", {}))[0] for _ in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


async def test_a_device_whose_clock_is_off_learns_the_relays_and_goes_on(relay: LiveRelay) -> None:
    device = await paired_client(relay)
    async with device:
        device._skew = -600.0  # as if this machine's clock were ten minutes behind
        assert await device.list_requests("pending") == []
        assert abs(device._skew) < 30


async def test_a_hostile_device_name_is_shown_escaped(relay: LiveRelay) -> None:
    from tests.core.test_cli_e2ee import env_for, hitl_desk
    from tests.hostile import FORBIDDEN, HOSTILE

    await paired_client(relay, f"phone {HOSTILE['title']}")
    code, out, _ = await hitl_desk("devices", "list", env=env_for(relay.home, relay.url))
    assert code == 0 and "pwned title" in out and not FORBIDDEN.search(out)


async def test_a_browser_signs_its_event_stream_in_the_query_instead_of_headers(relay: LiveRelay) -> None:
    from hitl_desk.device import QUERY_FIELDS

    device = await paired_client(relay)
    path = f"{DEVICE_PREFIX}/events"
    headers = signed_headers(device.device.key, device.device.device_id, "GET", canonical_target(path, {"since": "0"}))
    query = {"since": "0", **{name: headers[header] for name, header in QUERY_FIELDS.items()}}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(lan_url(relay) + path, params=query) as ws:
            ready = await ws.receive_json(timeout=10)
        with pytest.raises(aiohttp.WSServerHandshakeError):  # and the same signature works once
            await http.ws_connect(lan_url(relay) + path, params=query)
    assert ready["type"] == "ready"
    await device.close()


def test_the_device_routes_document_a_device_signature() -> None:
    from relay.devices import owner_routes, routes

    doc = RouteTable(routes, owner_routes).document()
    assert doc["paths"][f"{DEVICE_PREFIX}/hitl/requests"]["get"]["security"] == [{"deviceSignature": []}]
    assert "security" not in doc["paths"]["/api/v1/pair/{pairing_id}/join"]["post"]
    assert doc["paths"]["/api/v1/devices"]["get"]["security"] == [{"apiKey": []}, {"bearer": []}]


async def test_a_paired_device_keeps_working_after_the_relay_restarts_and_a_replay_stays_refused(
        relay: LiveRelay) -> None:
    device = await paired_client(relay)
    path = f"{DEVICE_PREFIX}/hitl/requests"
    before = _signed(device, "GET", path)
    assert (await _raw(relay, "GET", path, before))[0] == 200
    port, lan_port = relay.running.port, lan_listener(relay.running.app).port
    await relay.running.stop()
    relay.running = await start_relay(relay.home, port, lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False,
                                      lan_port=lan_port)
    async with device:
        assert await device.list_requests("pending") == []  # the credential is in the store
    status, body = await _raw(relay, "GET", path, before)  # signed before the restart: its nonce is forgotten,
    assert (status, body["error"]["code"]) == (401, "signature_expired")  # so its time is refused instead
