"""Credentials: the owner token file, hashed API keys, revocation, Host/Origin checks."""

from __future__ import annotations

import stat

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.errors import ApiKeyNotFoundError, AuthenticationError, PermissionDeniedError
from tests.conftest import LiveRelay
from tests.secrecy import assert_relay_kept_none_of


async def test_owner_credential_and_secret_are_private_files(relay: LiveRelay) -> None:
    for name in ("owner.token", "relay.secret"):
        mode = stat.S_IMODE((relay.home / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"


async def test_api_keys_are_stored_hashed_and_shown_once(relay: LiveRelay, owner: RelayClient) -> None:
    created = await owner.create_api_key("hashed-agent", "laptop")
    assert created.api_key.startswith("mcp_pk_") and created.api_key.startswith(created.prefix)
    listed = await owner.list_api_keys()
    assert [k.prefix for k in listed] == [created.prefix]
    assert "api_key" not in listed[0].model_dump()
    await assert_relay_kept_none_of(relay, created.api_key[len(created.prefix):])


async def test_revoked_key_is_refused_at_once(relay: LiveRelay, owner: RelayClient) -> None:
    agent = await relay.agent("soon-revoked")
    await agent.notify("still allowed")
    prefix = (await owner.list_api_keys())[0].prefix
    await owner.revoke_api_key(prefix)
    with pytest.raises(AuthenticationError):
        await agent.notify("refused")
    await agent.close()
    with pytest.raises(ApiKeyNotFoundError):
        await owner.revoke_api_key("mcp_pk_nothing")


async def test_key_authenticates_as_x_api_key_and_bearer_and_registers_its_agent(
    relay: LiveRelay, owner: RelayClient,
) -> None:
    created = await owner.create_api_key("header-agent")
    async with aiohttp.ClientSession() as http:
        for headers in ({"X-API-Key": created.api_key}, {"Authorization": f"Bearer {created.api_key}"}):
            async with http.post(f"{relay.url}/api/v1/hitl/notify", headers=headers, json={"message": "hi"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["request"]["agent_name"] == "header-agent"
    agents = await owner.list_agents()
    assert [a.name for a in agents] == ["header-agent"]
    assert agents[0].id == agents[0].agent_id


async def test_agents_are_registered_on_first_contact_by_name(relay: LiveRelay, owner: RelayClient) -> None:
    await owner.notify("hello", agent_name="new-bot")
    assert "new-bot" in [a.name for a in await owner.list_agents()]


async def test_agent_keys_cannot_manage_keys(relay: LiveRelay) -> None:
    agent = await relay.agent()
    with pytest.raises(PermissionDeniedError):
        await agent.list_api_keys()
    await agent.close()


async def test_wrong_credentials_are_401_with_a_clear_code(relay: LiveRelay) -> None:
    for credential in ("mcp_pk_forged", "not-a-jwt", None):
        async with RelayClient(relay.url, credential) as client:
            with pytest.raises(AuthenticationError):
                await client.notify("x")


@pytest.mark.parametrize(("header", "value", "code"), [
    ("Host", "evil.example:8765", "host_not_allowed"),
    ("Origin", "https://evil.example", "origin_not_allowed"),
    ("Origin", "null", "origin_not_allowed"),
])
async def test_foreign_host_or_origin_is_refused(relay: LiveRelay, header: str, value: str, code: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{relay.url}/api/v1/hitl/notify", headers={header: value,
                             "Authorization": f"Bearer {relay.owner_token}"}, json={"message": "x"}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == code


async def test_own_origin_is_accepted(relay: LiveRelay) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/healthz", headers={"Origin": relay.url}) as resp:
            assert resp.status == 200
