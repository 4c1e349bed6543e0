"""``PUT /api/v1/lan``: the owner's LAN switch on the running relay; refused to others, never on the LAN."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.conftest import live_relay
from tests.pairing import LAN_ADDRESS


async def test_only_the_owner_on_loopback_switches_the_lan_and_a_failed_bind_is_a_clear_409(tmp_path: Path) -> None:
    async with live_relay(tmp_path / "a", lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False) as relay:
        async with aiohttp.ClientSession() as http:
            owner = {"Authorization": f"Bearer {relay.owner_token}"}
            async with http.get(relay.url + "/api/v1/lan", headers=owner) as resp:
                status = await resp.json()
            assert status["enabled"] and status["urls"][0].startswith(f"http://{LAN_ADDRESS}:")
            async with http.put(status["urls"][0] + "/api/v1/lan", json={"enabled": False}, headers=owner) as resp:
                assert (resp.status, (await resp.json())["error"]["code"]) == (404, "not_on_lan")
            async with http.put(relay.url + "/api/v1/lan", json={"enabled": False}) as resp:
                assert resp.status == 401
            async with http.put(relay.url + "/api/v1/lan", json={"enabled": "maybe"}, headers=owner) as resp:
                assert (resp.status, (await resp.json())["error"]["code"]) == (422, "invalid_request")
            async with http.get(relay.url + "/api/v1/lan", headers=owner) as resp:
                assert (await resp.json())["enabled"]  # nothing changed
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails before any traffic
    async with live_relay(tmp_path / "b", lan=False, lan_addresses=("192.0.2.1",), mdns=False) as relay:
        async with aiohttp.ClientSession() as http:
            owner = {"Authorization": f"Bearer {relay.owner_token}"}
            async with http.put(relay.url + "/api/v1/lan", json={"enabled": True}, headers=owner) as resp:
                body = await resp.json()
                assert (resp.status, body["error"]["code"]) == (409, "lan_unavailable")
                assert "--lan-address" in body["error"]["message"]
            async with http.get(relay.url + "/api/v1/lan", headers=owner) as resp:
                assert await resp.json() == {"enabled": False, "urls": []}
        assert not relay.settings.lan_choice().enabled

