"""OAuth 2.1 on the live relay, driven by the mcp SDK's own client (``OAuthClientProvider``).

The client starts with no key: it is refused with a challenge, discovers the metadata, registers,
sends the browser to authorize; the human allows the consent question from the event stream like
any question; the client exchanges the code, calls a tool, refreshes, and is refused once revoked.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import httpx2
import jwt
import pytest
from mcp.types import TextContent

from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, live_relay, start_relay
from tests.relay.oauth_support import (
    USED,
    SdkClient,
    exchange_code,
    is_consent,
    pkce_pair,
    register_client,
)

HOSTILE_NAME = "<script>alert(1)</script>\x1b]0;pwned\x07"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A relay whose consent questions wait 2 s at most (the timeout test needs no longer)."""
    async with live_relay(tmp_path, oauth_consent_timeout=2.0) as live:
        yield live


def answer(request: HitlRequest) -> str:
    """The human: allows the consent, answers questions."""
    return "Allow" if is_consent(request) else "blue"


async def test_sdk_client_signs_in_through_the_humans_consent_asks_refreshes_and_is_refused_after_revocation(
        relay: LiveRelay) -> None:
    client = SdkClient(relay)
    async with relay.owner() as owner, ScriptedApprover(owner, answer) as human:
        async with client.session(f"{relay.url}/mcp") as mcp:
            result = await mcp.call_tool("request_human_input", {"prompt": "Which colour?"})
        assert isinstance(result.content[0], TextContent) and "blue" in result.content[0].text
        consents = [e.request for e in human.events if e.type == "request.created" and is_consent(e.request)]
        assert len(consents) == 1 and consents[0].agent_name == "Test MCP client"
        assert "127.0.0.1" in consents[0].prompt and "hitl:ask" in consents[0].prompt

        first = client.storage.tokens
        assert first is not None and first.refresh_token and first.expires_in == 3600
        assert client.redirects[0]["iss"] == relay.url and client.redirects[0]["state"]
        claims = jwt.decode(first.access_token, options={"verify_signature": False})
        assert claims["agent_id"] == consents[0].agent_id and claims["aud"] == f"{relay.url}/mcp"
        auth_url = client.authorize_urls[0]
        assert "code_challenge_method=S256" in auth_url and "resource=" in auth_url

        # The clock passes the access token's expiry: the next call refreshes (and rotates) first.
        client.provider.context.token_expiry_time = time.time() - 1
        async with client.session(f"{relay.url}/mcp") as mcp:
            await mcp.call_tool("notify_human", {"message": "refreshed"})
        second = client.storage.tokens
        assert second is not None and second.refresh_token != first.refresh_token
        assert second.access_token != first.access_token

        listed = (await _owner_json(relay, "GET", "/api/v1/oauth/clients"))["clients"]
        assert [c["agent_name"] for c in listed] == ["Test MCP client"]
        revoked = await _owner_json(relay, "DELETE", f"/api/v1/oauth/clients/{listed[0]['client_id']}")
        assert revoked["revoked_grants"] == 1

    async with aiohttp.ClientSession() as http:
        bearer = {"Authorization": f"Bearer {second.access_token}"}
        async with http.post(f"{relay.url}/mcp", json={}, headers=bearer) as resp:
            assert resp.status == 401
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
        async with http.post(f"{relay.url}/api/v1/oauth/token", data={
                "grant_type": "refresh_token", "refresh_token": second.refresh_token,
                "client_id": client.storage.client.client_id if client.storage.client else ""}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (400, "invalid_grant")


async def test_denied_consent_sends_access_denied_back_and_issues_nothing(relay: LiveRelay) -> None:
    client = SdkClient(relay, name=HOSTILE_NAME)
    async with relay.owner() as owner, ScriptedApprover(owner, lambda r: "Deny" if is_consent(r) else None):
        with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the callback's error in its own
            async with client.session(f"{relay.url}/mcp") as mcp:
                await mcp.call_tool("notify_human", {"message": "never"})
    assert client.storage.tokens is None
    [back] = client.redirects
    assert back["error"] == "access_denied" and back["iss"] == relay.url and back["state"]
    assert "code" not in back
    assert (await _owner_json(relay, "GET", "/api/v1/oauth/clients"))["clients"] == []


@pytest.mark.slow
async def test_consent_nobody_answers_fails_cleanly_with_access_denied(relay: LiveRelay) -> None:
    client = SdkClient(relay)
    async with relay.owner() as owner, ScriptedApprover(owner, lambda r: None):
        with pytest.raises(Exception):  # noqa: B017
            async with client.session(f"{relay.url}/mcp") as mcp:
                await mcp.call_tool("notify_human", {"message": "never"})
    assert client.storage.tokens is None
    [back] = client.redirects
    assert (back["error"], back["error_description"]) == ("access_denied", "The human did not answer in time.")


async def _owner_json(relay: LiveRelay, method: str, path: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, relay.url + path,
                                headers={"Authorization": f"Bearer {relay.owner_token}"}) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            assert isinstance(body, dict)
            return body


async def test_a_sign_in_waiting_on_the_human_survives_a_relay_restart(relay: LiveRelay) -> None:
    verifier, challenge = pkce_pair()
    _, registered = await register_client(relay, ["http://127.0.0.1/callback"], name="restart client")
    query = urlencode({"response_type": "code", "client_id": registered["client_id"], "redirect_uri": USED,
                       "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"})
    async with httpx2.AsyncClient(follow_redirects=False) as browser:
        parked = await browser.get(f"{relay.url}/api/v1/oauth/authorize?{query}")
        assert parked.status_code == 303
        page = parked.headers["location"]  # the page the browser waits on, its id a secret
        port = relay.running.port
        await relay.running.stop()
        relay.running = await start_relay(relay.home, port)
        async with relay.owner() as owner:
            [question] = [r for r in await owner.list_requests("pending") if is_consent(r)]
            await owner.answer(question.id, "Allow")  # the human allows after the restart
        back = await browser.get(f"{relay.url}{page}?wait=1")
        assert back.status_code == 302 and back.headers["location"].startswith(USED)
        again = await browser.get(f"{relay.url}{page}?wait=1")
        assert again.status_code == 404  # a decision is redeemed once, across the restart too
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    assert (await exchange_code(relay, registered["client_id"], code, verifier))[0] == 200
