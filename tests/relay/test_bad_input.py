"""Bad input gets a clear 4xx JSON error and changes nothing; no input gets a 5xx."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.models import MAX_BODY_BYTES, MAX_CHOICES, MAX_PROMPT_CHARS
from tests.conftest import LiveRelay

BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("malformed JSON", b"{prompt", 400, "malformed_json"),
    ("not an object", [1, 2], 422, "invalid_request"),
    ("wrong type", {"prompt": 42}, 422, "invalid_request"),
    ("missing prompt", {}, 422, "invalid_request"),
    ("empty prompt", {"prompt": ""}, 422, "invalid_request"),
    ("over-long prompt", {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, 422, "invalid_request"),
    ("too many choices", {"prompt": "p", "choices": [str(i) for i in range(MAX_CHOICES + 1)]}, 422, "invalid_request"),
    ("over-long choice", {"prompt": "p", "choices": ["c" * 201]}, 422, "invalid_request"),
    ("negative timeout", {"prompt": "p", "timeout_seconds": -1}, 422, "invalid_request"),
    ("lone surrogate", b'{"prompt": "\\ud800"}', 422, "invalid_request"),
    ("body over the limit", {"prompt": "x" * (MAX_BODY_BYTES + 10)}, 413, "payload_too_large"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_request_body_is_a_clear_error_and_changes_nothing(
        relay: LiveRelay, owner: RelayClient, case: str, body: Any, status: int, code: str) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{relay.url}/api/v1/hitl/request", data=io.BytesIO(data),
                             headers={"Authorization": f"Bearer {relay.owner_token}",
                                      "Content-Type": "application/json"}) as resp:
            payload = await resp.json()
    assert resp.status == status, payload
    assert payload["error"]["code"] == code
    assert payload["detail"] == payload["error"]["message"]
    assert await owner.list_requests() == []


@pytest.mark.parametrize(("method", "path", "code", "status"), [
    ("GET", "/api/v1/hitl/requests/req_unknown", "request_not_found", 404),
    ("POST", "/api/v1/hitl/requests/req_unknown/answer", "request_not_found", 404),
    ("GET", "/api/v1/nowhere", "not_found", 404),
    ("PUT", "/api/v1/hitl/request", "method_not_allowed", 405),
    ("GET", "/api/v1/hitl/requests?status=bogus", "invalid_request", 422),
    ("GET", "/api/v1/hitl/requests/x?wait=-1", "invalid_request", 422),
])
async def test_unknown_ids_routes_and_params_are_clear_errors(
        relay: LiveRelay, method: str, path: str, code: str, status: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, relay.url + path, json={"response": "x"},
                                headers={"Authorization": f"Bearer {relay.owner_token}"}) as resp:
            payload = await resp.json()
    assert (resp.status, payload["error"]["code"]) == (status, code)


async def test_openapi_document_describes_every_route(relay: LiveRelay) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/api/v1/openapi.json") as resp:
            doc = await resp.json()
    served = {(r.method, r.resource.canonical) for r in relay.running.app.router.routes()
              if r.resource is not None and r.method != "HEAD"
              and not r.resource.canonical.startswith(("/mcp", "/mcp-server"))}  # MCP describes itself
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served <= documented, served - documented
    assert doc["components"]["schemas"]["InputRequestCreate"]["properties"]["prompt"]["maxLength"] == MAX_PROMPT_CHARS


async def test_health_and_metrics_report_counts(relay: LiveRelay, owner: RelayClient) -> None:
    await owner.create_request("counted")
    await owner.create_request("counted again")
    assert (await owner.health()).pending == 2
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/api/v1/nothing-here") as resp:
            assert resp.status == 404
        async with http.get(f"{relay.url}/metrics") as resp:
            text = await resp.text()
    assert 'hitl_requests_created_total{kind="input"} 2.0' in text
    assert "hitl_requests_pending 2.0" in text
    assert 'hitl_http_responses_total{status="4xx"} 1.0' in text
    assert 'hitl_http_responses_total{status="2xx"}' in text
