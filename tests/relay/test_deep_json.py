"""Deeply nested JSON (``[`` x 100,000) is a 4xx ``json_too_deep`` everywhere JSON is read, never a 500."""

from __future__ import annotations

import io

import aiohttp
import pytest

from relay import api, events, sealed_routes
from relay.mcp import MCP_PATHS
from relay.openapi import RouteTable
from tests.conftest import LiveRelay

DEEP = b"[" * 100_000
BODY_ROUTES = [op.path.replace("{request_id}", "req_00000000000000000000")
               for op in RouteTable(api.routes, sealed_routes.routes, events.routes).operations if op.body is not None]


def test_every_route_with_a_body_is_covered() -> None:
    assert len(BODY_ROUTES) >= 9  # the REST routes that read JSON, REST and E2EE


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_deep_json_body_is_400_json_too_deep(relay: LiveRelay, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + path, data=io.BytesIO(DEEP),
                             headers={"Authorization": f"Bearer {relay.owner_token}",
                                      "Content-Type": "application/json"}) as resp:
            payload = await resp.json()
    assert (resp.status, payload["error"]["code"]) == (400, "json_too_deep"), payload


async def test_deep_json_websocket_command_is_an_error_result_and_the_socket_lives(relay: LiveRelay) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{relay.url}/api/v1/events",
                                   headers={"Authorization": f"Bearer {relay.owner_token}"}) as ws:
            assert (await ws.receive_json())["type"] == "ready"
            await ws.send_str(DEEP.decode())
            result = await ws.receive_json()
            assert (result["ok"], result["error"]["code"]) == (False, "json_too_deep")
            await ws.send_json({"id": 7, "type": "ping"})
            pong = await ws.receive_json()
            assert (pong["id"], pong["ok"], pong["result"]) == (7, True, "pong")


@pytest.mark.parametrize("path", MCP_PATHS[:1])
async def test_deep_json_to_mcp_is_a_4xx(relay: LiveRelay, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + path, data=io.BytesIO(DEEP),
                             headers={"Authorization": f"Bearer {relay.owner_token}",
                                      "Content-Type": "application/json",
                                      "Accept": "application/json, text/event-stream"}) as resp:
            await resp.read()
    assert 400 <= resp.status < 500
