"""The unmodified hitl-cli 1.2.1 signs in with ``hitl-cli login --name X`` and then works with no API key.

``BROWSER`` is a script that loads the authorization URL the way a browser does (it follows
redirects and the consent page's meta refresh) until the relay sends it to hitl-cli's callback
listener on localhost:8080.  The human allows the consent question from the event stream.
Then ``request``, ``notify``, ``notify-completion`` (and a refresh of an expired token) work over
MCP with the OAuth token; ``request --e2ee`` cannot (bug B3: hitl-cli's REST client ignores the
OAuth token), so the test shows the relay's side instead: the agent key hitl-cli registered at
login through its token's ``agent_id`` is the key the relay binds to the agent's sealed requests,
which the ``proxy`` (an MCP server here) sends with the same token.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from pathlib import Path

import jwt
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.compat.hitlcli import arun_hitl_cli, hitl_cli_venv
from tests.conftest import LiveRelay
from tests.relay.oauth_support import is_consent, write_browser

QUIET = {"PYTHONWARNINGS": "ignore"}
TIMEOUT = 60.0
CALLBACK_PORT = 8080  # hitl-cli's fixed callback port (compat doc §1 step 3)


@pytest.fixture(scope="module", autouse=True)
def _venv() -> None:
    """Build the client's venv before the first test, outside any test's timeout."""
    hitl_cli_venv()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def human(request: HitlRequest) -> str | None:
    """Allows the sign-in, says yes, likes the finished task."""
    if is_consent(request):
        return "Allow"
    if request.encrypted:
        return None
    return {"input": "yes", "completion": "Looks good"}.get(request.kind)


@pytest.mark.slow
async def test_hitl_cli_login_then_request_notify_complete_refresh_and_proxy_without_an_api_key(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    if not _port_free(CALLBACK_PORT):
        pytest.skip("port 8080 (hitl-cli's fixed callback port) is in use")
    browser = write_browser(tmp_path / "browser")
    home = tmp_path / "user"  # the relay's data is in tmp_path/home
    home.mkdir()
    config = home / ".config" / "hitl-cli"
    desk = await DeskEncryption.ensure(owner, relay.settings)

    async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        done = await arun_hitl_cli(list(args), server_url=relay.url, home=home, timeout=TIMEOUT,
                                   env={**QUIET, **(env or {})})
        return done.returncode, done.stdout + done.stderr

    async with ScriptedApprover(owner, human) as approver:
        code, out = await cli("login", "--name", "X", env={"BROWSER": str(browser)})
        assert code == 0, out
        token = json.loads((config / "oauth_token.json").read_text())
        for name in ("oauth_token.json", "oauth_client.json", "agent.key"):
            assert stat.S_IMODE((config / name).stat().st_mode) == 0o600
        [agent] = [a for a in await owner.list_agents() if a.name == "X"]
        assert jwt.decode(token["access_token"], options={"verify_signature": False})["agent_id"] == agent.id
        consent = next(e.request for e in approver.events if is_consent(e.request))
        assert consent.agent_name == "X" and "HITL CLI - X" in consent.prompt

        asked, notified, reported = await asyncio.gather(
            cli("request", "--prompt", "Ship it?"), cli("notify", "--message", "Build started"),
            cli("notify-completion", "--summary", "All tests pass"))
        assert asked[0] == notified[0] == reported[0] == 0, asked[1] + notified[1] + reported[1]
        assert "Human response received: yes" in asked[1] and "Looks good" in reported[1]
        mine = [e.request for e in approver.events if e.type == "request.created" and not is_consent(e.request)]
        assert {r.agent_name for r in mine} == {"X"} and len(mine) == 3

        (config / "oauth_token.json").write_text(json.dumps({**token, "expires_at": 0}))
        code, out = await cli("notify", "--message", "after refresh")
        refreshed = json.loads((config / "oauth_token.json").read_text())
        assert code == 0 and refreshed["refresh_token"] != token["refresh_token"], out

        # B3: `request --e2ee` goes through hitl-cli's ApiClient, which never sends the OAuth token.
        code, out = await cli("request", "--e2ee", "--prompt", "sealed?")
        assert code == 1 and "Not logged in" in out

        keys = KeyPair.from_json((config / "agent.key").read_text())
        venv = await asyncio.to_thread(hitl_cli_venv)
        params = StdioServerParameters(
            command=str(venv / "bin" / "hitl-cli"), args=["proxy", relay.url + "/mcp-server/mcp/"], cwd=str(home),
            env={"HOME": str(home), "PATH": os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"]),
                 "LANG": "C.UTF-8", "HITL_SERVER_URL": relay.url, **QUIET})
        with (tmp_path / "proxy.log").open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as proxy:
                sent = await proxy.call_tool("notify_human", {"message": "sealed hello"})
        assert not sent.is_error
        sealed = next(e.request for e in approver.events if e.type == "request.created" and e.request.encrypted)
        assert (sealed.agent_name, sealed.agent_public_key) == ("X", keys.public_key)
        assert desk.open(sealed).prompt == "sealed hello"
