"""``hitl-desk login`` signs our own CLI in through the relay's OAuth; ``oauth list|revoke`` and
``mcp-config --oauth`` for the owner.  Real subprocesses against the live relay."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import jwt
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from hitl_desk.settings import Settings
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay
from tests.core.test_cli_rough_edges import env_for, hitl_desk
from tests.relay.oauth_support import (
    USED,
    authorized_code,
    exchange_code,
    is_consent,
    pkce_pair,
    register_client,
    write_browser,
)


def human(request: HitlRequest) -> str | None:
    """Allows the sign-in and answers questions."""
    return "Allow" if is_consent(request) else "yes"


@pytest.mark.slow
async def test_login_signs_the_cli_in_then_it_asks_refreshes_and_is_refused_once_revoked(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    agent_home = tmp_path / "agent-home"  # no owner credential here: only the sign-in
    agent_env = env_for(agent_home, relay.url, BROWSER=str(write_browser(tmp_path / "browser")))
    async with ScriptedApprover(owner, human) as approver:
        code, out, err = await hitl_desk("login", "--name", "desk-agent", env=agent_env)
        assert code == 0, err
        token_file = Path(out.strip())
        assert token_file == agent_home / "oauth-token.json"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        first = json.loads(token_file.read_text())
        assert first["access_token"] not in err + out  # the token is never printed

        code, out, err = await hitl_desk("request", "--prompt", "Go?", env=agent_env)
        assert (code, out.strip()) == (0, "yes"), err
        asked = next(e.request for e in approver.events if e.type == "request.created" and not is_consent(e.request))
        assert asked.agent_name == "desk-agent"

        token_file.write_text(json.dumps({**first, "expires_at": 0}))
        code, _, err = await hitl_desk("notify", "--message", "after refresh", env=agent_env)
        assert code == 0, err
        assert json.loads(token_file.read_text())["refresh_token"] != first["refresh_token"]

    owner_env = env_for(relay.home, relay.url)
    code, out, err = await hitl_desk("oauth", "list", env=owner_env)
    assert code == 0 and "desk-agent" in out and first["client_id"] in out, err
    code, out, err = await hitl_desk("oauth", "revoke", first["client_id"], env=owner_env)
    assert code == 0 and "1 grant(s) revoked" in out, err
    code, _, err = await hitl_desk("notify", "--message", "refused", env=agent_env)
    assert code == 6, err  # authentication failed
    code, _, err = await hitl_desk("oauth", "revoke", "hc_nobody", env=owner_env)
    assert code != 0 and "No OAuth client" in err


async def test_mcp_config_oauth_prints_the_endpoint_without_a_key(tmp_path: Path) -> None:
    env = env_for(tmp_path, "http://127.0.0.1:8765")
    code, out, err = await hitl_desk("mcp-config", "claude-code", "--oauth", env=env)
    assert (code, out) == (0, "claude mcp add --transport http hitl-desk http://127.0.0.1:8765/mcp\n"), err
    code, out, _ = await hitl_desk("mcp-config", "cursor", "--oauth", env=env)
    assert json.loads(out) == {"mcpServers": {"hitl-desk": {"url": "http://127.0.0.1:8765/mcp"}}}
    code, _, err = await hitl_desk("mcp-config", "codex", "--oauth", env=env)
    assert code == 1 and "--oauth is for" in err
    assert not (tmp_path / "mcp-keys.json").exists()  # nothing minted


async def test_a_signed_in_client_renews_its_expired_token_once_and_carries_on(
        relay: LiveRelay, tmp_path: Path) -> None:
    registered = (await register_client(relay, [USED], name="long-lived"))[1]
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, registered["client_id"], challenge, resource=relay.url + "/"))["code"]
    tokens = (await exchange_code(relay, registered["client_id"], code, verifier))[1]
    settings = Settings(home=tmp_path, server_url=relay.url, server_url_set=True)
    record = {"server_url": relay.url, "client_id": registered["client_id"], "access_token": tokens["access_token"],
              "refresh_token": tokens["refresh_token"], "token_endpoint": relay.url + "/api/v1/oauth/token",
              "expires_at": time.time() + 3600}
    (tmp_path / "oauth-token.json").write_text(json.dumps(record))
    async with RelayClient.for_agent(settings) as client:
        assert client.credential == tokens["access_token"]
        # An hour later: the relay refuses the token the client holds, and the file says it expired.
        key = bytes.fromhex((relay.home / "oauth_signing.key").read_text())
        claims = jwt.decode(tokens["access_token"], key, algorithms=["HS256"], options={"verify_aud": False})
        client.credential = jwt.encode({**claims, "exp": int(time.time()) - 1}, key, headers={"typ": "at+jwt"})
        await client.close()
        (tmp_path / "oauth-token.json").write_text(json.dumps({**record, "expires_at": 0}))
        sent = await client.notify("still here")
    kept = json.loads((tmp_path / "oauth-token.json").read_text())
    assert sent.agent_name == "long-lived" and kept["refresh_token"] != tokens["refresh_token"]
    assert client.credential == kept["access_token"]
