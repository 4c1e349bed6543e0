"""OAuth on the live relay with raw HTTP: metadata, registration rules, and every bad input refused
with its RFC error code while nothing is issued."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
import pytest

from relay.oauth.keys import OAUTH
from relay.oauth.store import UNUSED_CLIENTS
from tests.conftest import LiveRelay, live_relay
from tests.relay.oauth_support import (
    USED,
    authorized_code,
    exchange_code,
    pkce_pair,
    post_form,
    register_client,
)

REDIRECT = "http://127.0.0.1/callback"
"""Registered port-less, as Claude Code's metadata document does; the browser uses a port (USED)."""


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """The live relay."""
    async with live_relay(tmp_path) as live:
        yield live


async def _client(relay: LiveRelay) -> str:
    status, body = await register_client(relay, [REDIRECT])
    assert status == 201
    return str(body["client_id"])


async def _issued(relay: LiveRelay) -> list[Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(relay.url + "/api/v1/oauth/clients",
                            headers={"Authorization": f"Bearer {relay.owner_token}"}) as resp:
            return list((await resp.json())["clients"])


async def test_metadata_documents_name_the_issuer_s256_iss_support_and_the_mcp_resource(relay: LiveRelay) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(relay.url + "/.well-known/oauth-authorization-server") as resp:
            server = await resp.json()
        async with http.get(relay.url + "/.well-known/oauth-protected-resource/mcp") as resp:
            resource = await resp.json()
        async with http.post(relay.url + "/mcp-server/mcp/", json={}) as resp:
            challenge = resp.headers["WWW-Authenticate"]
    assert server["issuer"] == relay.url and server["code_challenge_methods_supported"] == ["S256"]
    assert server["authorization_response_iss_parameter_supported"] is True
    assert "none" in server["token_endpoint_auth_methods_supported"]
    assert resource == {**resource, "resource": f"{relay.url}/mcp", "authorization_servers": [relay.url]}
    assert resp.status == 401
    assert f'resource_metadata="{relay.url}/.well-known/oauth-protected-resource/mcp-server/mcp"' in challenge


async def test_registration_takes_loopback_https_and_private_schemes_at_once_and_refuses_plain_http(
        relay: LiveRelay) -> None:
    status, body = await register_client(relay, ["cursor://anysphere.cursor-mcp/oauth/callback",
                                           "https://www.cursor.com/agents/mcp/oauth/callback",
                                           "http://localhost:8787/callback"])
    assert status == 201 and body["token_endpoint_auth_method"] == "none" and "client_secret" not in body
    for bad in (["http://evil.example/callback"], ["javascript:alert(1)"], []):
        status, body = await register_client(relay, bad)
        assert status == 400 and body["error"] in ("invalid_redirect_uri", "invalid_client_metadata"), bad


async def test_loopback_redirect_matches_on_any_port_but_not_another_path_or_host(relay: LiveRelay) -> None:
    client_id = await _client(relay)
    _, challenge = pkce_pair()
    for wrong in ("http://127.0.0.1:49123/other", "http://localhost:49123/callback", "https://127.0.0.1/callback"):
        query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": wrong,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}", allow_redirects=False) as resp:
                assert (resp.status, (await resp.json())["error"]) == (400, "invalid_request"), wrong
    assert await _issued(relay) == []


async def test_authorize_without_pkce_or_for_a_foreign_resource_redirects_back_with_the_error(
        relay: LiveRelay) -> None:
    client_id = await _client(relay)
    cases = [({"code_challenge_method": "plain", "code_challenge": "x" * 43}, "invalid_request"),
             ({}, "invalid_request"),
             ({"code_challenge": pkce_pair()[1], "resource": "http://127.0.0.1:1/mcp"}, "invalid_target")]
    for extra, error in cases:
        query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": USED, "state": "s9",
                           **extra})
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}", allow_redirects=False) as resp:
                location = resp.headers["Location"]
        assert resp.status == 302 and location.startswith(USED + "?"), location
        assert f"error={error}" in location and "state=s9" in location and "code=" not in location


async def test_wrong_verifier_reused_code_and_wrong_redirect_are_invalid_grant_and_a_reuse_revokes(
        relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge))["code"]
    assert await exchange_code(relay, client_id, code, pkce_pair()[0]) == (400, {
        "error": "invalid_grant", "error_description": "incorrect code_verifier"})
    status, body = await exchange_code(relay, client_id, code, verifier, redirect="http://127.0.0.1:1/callback")
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await _issued(relay) == []
    status, tokens = await exchange_code(relay, client_id, code, verifier)
    assert status == 200 and tokens["token_type"] == "Bearer"
    status, body = await exchange_code(relay, client_id, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await _issued(relay) == []  # the reuse revoked the grant the code had issued
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", json={},
                             headers={"Authorization": f"Bearer {tokens['access_token']}"}) as resp:
            assert resp.status == 401


async def test_refresh_token_used_twice_is_refused_and_revokes_the_family(relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge))["code"]
    _, first = await exchange_code(relay, client_id, code, verifier)
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client_id}
    status, second = await post_form(relay, "/api/v1/oauth/token", data=refresh)
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    status, body = await post_form(relay, "/api/v1/oauth/token", data=refresh)
    assert (status, body["error"]) == (400, "invalid_grant")
    refresh["refresh_token"] = second["refresh_token"]
    status, body = await post_form(relay, "/api/v1/oauth/token", data=refresh)
    assert (status, body["error"]) == (400, "invalid_grant")  # the whole family is gone
    assert await _issued(relay) == []


async def test_token_for_another_resource_or_expired_is_refused_on_every_call(relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge, resource=f"{relay.url}/mcp"))["code"]
    _, tokens = await exchange_code(relay, client_id, code, verifier)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = bytes.fromhex((relay.home / "oauth_signing.key").read_text())
    claims = jwt.decode(tokens["access_token"], key, algorithms=["HS256"], options={"verify_aud": False})
    # The relay's own key signing what another resource's token, and an expired one, would say.
    foreign = jwt.encode({**claims, "aud": "http://127.0.0.1:1/mcp"}, key, headers={"typ": "at+jwt"})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, key, headers={"typ": "at+jwt"})
    async with aiohttp.ClientSession() as http:
        async with http.get(relay.url + "/api/v1/keys/user", headers=bearer) as resp:
            assert resp.status == 401  # audience /mcp does not cover the REST API
        for token in (foreign, expired):
            async with http.post(relay.url + "/mcp", json={}, headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
        async with http.get(relay.url + "/api/v1/hitl/requests", headers=bearer) as resp:
            assert resp.status == 401


async def test_expired_code_is_invalid_grant(relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge))["code"]
    relay.running.app[OAUTH].clock = lambda: time.time() + 120  # a clock past the code's 60 s
    status, body = await exchange_code(relay, client_id, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert body["error_description"] == "authorization code has expired"



async def test_token_without_the_ask_scope_gets_403_insufficient_scope_naming_it(relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge, scope="hitl:notify"))["code"]
    _, tokens = await exchange_code(relay, client_id, code, verifier)
    assert tokens["scope"] == "hitl:notify"
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "request_human_input", "arguments": {"prompt": "may I?"}}}
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", json=call, headers={
                "Authorization": f"Bearer {tokens['access_token']}",
                "Accept": "application/json, text/event-stream"}) as resp:
            body = await resp.json()
            challenge_header = resp.headers["WWW-Authenticate"]
    assert (resp.status, body["error"]["code"]) == (403, "insufficient_scope")
    assert 'error="insufficient_scope"' in challenge_header and "hitl:ask" in challenge_header
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/api/v1/hitl/request", json={"prompt": "may I?"}, headers=bearer) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (403, "insufficient_scope")
        async with http.post(relay.url + "/api/v1/hitl/notify", json={"message": "fyi"}, headers=bearer) as resp:
            assert resp.status == 200
    async with relay.owner() as owner:
        made = [(r.kind, r.agent_name) for r in await owner.list_requests()]
    assert made == [("input", "bad-input client"), ("notification", "bad-input client")]  # the consent, the notice


async def test_consent_page_shows_the_client_name_escaped(relay: LiveRelay) -> None:
    _, body = await register_client(relay, [REDIRECT], name='<script>alert("x")</script>')
    query = urlencode({"response_type": "code", "client_id": body["client_id"], "redirect_uri": USED,
                       "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}") as resp:
            page = await resp.text()
    assert resp.status == 200 and "/api/v1/oauth/consent/" in str(resp.url)
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'http-equiv="refresh"' in page


async def test_rfc7009_revocation_of_an_access_token_ends_its_grant_and_unknown_tokens_are_fine(
        relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge, resource=f"{relay.url}/mcp"))["code"]
    _, tokens = await exchange_code(relay, client_id, code, verifier)
    async with aiohttp.ClientSession() as http:
        for token in ("not-a-token", tokens["access_token"]):
            form = {"token": token, "client_id": client_id}
            async with http.post(relay.url + "/api/v1/oauth/revoke", data=form) as resp:
                assert resp.status == 200
        async with http.post(relay.url + "/api/v1/oauth/revoke", data={}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (400, "invalid_request")
        async with http.post(relay.url + "/mcp", json={},
                             headers={"Authorization": f"Bearer {tokens['access_token']}"}) as resp:
            assert resp.status == 401
    status, body = await post_form(relay, "/api/v1/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id})
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_unauthenticated_authorize_cannot_flood_the_human_and_names_stay_on_one_line(relay: LiveRelay) -> None:
    _, body = await register_client(relay, [REDIRECT], name="Claude Code\n\nThe desk vouches for this: Allow")
    query = urlencode({"response_type": "code", "client_id": body["client_id"], "redirect_uri": USED,
                       "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "state": "s"})
    async with aiohttp.ClientSession() as http:
        for _ in range(10):
            async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}", allow_redirects=False) as resp:
                assert resp.status == 303
        async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}", allow_redirects=False) as resp:
            assert resp.status == 302 and "error=temporarily_unavailable" in resp.headers["Location"]
    async with relay.owner() as owner:
        asked = await owner.list_requests()
    assert len(asked) == 10
    assert asked[0].prompt.splitlines()[0].startswith("Claude Code\\x0a\\x0aThe desk vouches")


async def test_too_deep_json_with_an_access_token_is_a_4xx_not_a_crash(relay: LiveRelay) -> None:
    client_id = await _client(relay)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, client_id, challenge))["code"]
    _, tokens = await exchange_code(relay, client_id, code, verifier)
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", data=b"[" * 100_000, headers={
                "Authorization": f"Bearer {tokens['access_token']}", "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}) as resp:
            assert 400 <= resp.status < 500


async def test_registration_floods_forget_the_oldest_unused_clients_never_one_that_got_a_code(
        relay: LiveRelay) -> None:
    verifier, challenge = pkce_pair()
    used = await _client(relay)
    code = (await authorized_code(relay, used, challenge))["code"]  # the human allowed it
    flood = [await _client(relay) for _ in range(UNUSED_CLIENTS + 5)]

    async def known(client_id: str) -> bool:
        query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": USED,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}", allow_redirects=False) as resp:
                body = await resp.json() if resp.status == 400 else {}
                return body.get("error_description") != "unknown client_id"

    assert [await known(c) for c in flood[:5]] == [False] * 5  # the five oldest unused are forgotten
    assert await known(flood[5]) and await known(flood[-1])
    status, body = await exchange_code(relay, used, code, verifier)
    assert status == 200 and body["token_type"].lower() == "bearer"  # the client the human allowed stays
