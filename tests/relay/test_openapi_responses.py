"""Real responses of the live relay validate against its own OpenAPI document (openapi-core),
the 202s of ``wait=false`` included."""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp
import pytest
from nacl.public import PrivateKey
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair, b64, seal_json
from hitl_desk.e2ee import DeskEncryption
from tests.conftest import LiveRelay

DOCUMENT = "/api/v1/openapi.json"


async def exchange(http: aiohttp.ClientSession, base: str, method: str, path: str, *, pattern: str | None = None,
                   query: dict[str, str] | None = None, body: dict[str, Any] | None = None,
                   ) -> tuple[MockRequest, MockResponse]:
    """Make a real call; return it and its answer in the shapes openapi-core validates."""
    async with http.request(method, base + path, params=query, json=body) as resp:
        raw = await resp.read()
        content_type = resp.headers.get("Content-Type", "").split(";")[0]
        response = MockResponse(raw, status_code=resp.status, content_type=content_type)
    data = None if body is None else json.dumps(body).encode()
    request = MockRequest(base, method.lower(), path, path_pattern=pattern, args=query or {}, data=data,
                          headers={"X-API-Key": http.headers["X-API-Key"]})
    return request, response


@pytest.fixture
async def described(relay: LiveRelay) -> OpenAPI:
    """The relay's own document, as it serves it."""
    async with aiohttp.ClientSession() as http, http.get(relay.url + DOCUMENT) as resp:
        assert resp.status == 200
        return OpenAPI.from_dict(await resp.json())


async def test_wait_false_answers_202_as_the_document_says(relay: LiveRelay, owner: RelayClient,
                                                           described: OpenAPI) -> None:
    created = await owner.create_api_key("openapi-agent")
    async with aiohttp.ClientSession(headers={"X-API-Key": created.api_key}) as http:
        calls = [
            await exchange(http, relay.url, "POST", "/api/v1/hitl/request", query={"wait": "false"},
                           body={"prompt": "Ship it?", "choices": ["yes", "no"]}),
            await exchange(http, relay.url, "POST", "/api/v1/hitl/complete", body={"summary": "Done.", "wait": False}),
        ]
        request_id = json.loads(calls[0][1].data)["id"]
        calls.append(await exchange(http, relay.url, "GET", f"/api/v1/hitl/requests/{request_id}",
                                    pattern="/api/v1/hitl/requests/{request_id}"))
    assert [response.status_code for _, response in calls] == [202, 202, 200]
    for request, response in calls:
        described.validate_response(request, response)


async def test_sealed_routes_answer_202_as_the_document_says(relay: LiveRelay, owner: RelayClient,
                                                             described: OpenAPI) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    keys = PrivateKey.generate()
    created = await owner.create_api_key("sealed-agent")
    async with RelayClient(relay.url, created.api_key) as agent:
        await agent.register_key("agent", created.agent_id, b64(bytes(keys.public_key)))
        box = KeyPair(b64(bytes(keys)), b64(bytes(keys.public_key))).box(await agent.desk_public_key())
    async with aiohttp.ClientSession(headers={"X-API-Key": created.api_key}) as http:
        calls = [await exchange(http, relay.url, "POST", path, query={"wait": "false"},
                                body={"encrypted_payload": seal_json(box, plain)})
                 for path, plain in (("/api/v1/hitl/request/e2ee", {"prompt": "Sealed?"}),
                                     ("/api/v1/hitl/complete/e2ee", {"summary": "Sealed done."}))]
    assert [response.status_code for _, response in calls] == [202, 202]
    for request, response in calls:
        described.validate_response(request, response)


async def test_a_document_without_the_202_rejects_the_same_response(relay: LiveRelay, owner: RelayClient) -> None:
    created = await owner.create_api_key("strict-agent")
    async with aiohttp.ClientSession(headers={"X-API-Key": created.api_key}) as http:
        async with http.get(relay.url + DOCUMENT) as resp:
            document = await resp.json()
        call = await exchange(http, relay.url, "POST", "/api/v1/hitl/request", query={"wait": "false"},
                              body={"prompt": "Ship it?"})
    older = copy.deepcopy(document)
    del older["paths"]["/api/v1/hitl/request"]["post"]["responses"]["202"]
    with pytest.raises(Exception, match="202|status"):
        OpenAPI.from_dict(older).validate_response(*call)
    OpenAPI.from_dict(document).validate_response(*call)
