"""The unmodified hitl-cli 1.2.1 proxy (``hitl-cli proxy URL``), driven by the MCP SDK's stdio client.

The proxy talks to its backend only with ``Authorization: Bearer`` taken from
``~/.config/hitl-cli/oauth_token.json`` and refuses to start without that file (compat doc §5).
The relay has no OAuth login yet, but it takes its own API keys as Bearer tokens, so the file
here holds a real API key of the agent, one the relay accepts on every call the proxy makes —
not a made-up token.  What that leaves untested is only hitl-cli's ``login`` itself.

The proxy never registers its agent key with an API key (it wants an ``agent_id`` JWT claim,
§3.1), so the test registers the ``agent.key`` the proxy created, as the agent, like a user
following our docs would.  Its ``request_human_input`` always fails on the client side (bug B1:
fastmcp 2.10 hands ``decrypt_response`` a ``CallToolResult``); the test shows the relay did its
part: the question reached the desk sealed, and the sealed answer opens to the human's words
with the proxy's own key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair, open_envelope
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.compat.hitlcli import arun_hitl_cli, hitl_cli_venv
from tests.conftest import LiveRelay
from tests.secrecy import assert_relay_kept_none_of

QUIET = {"PYTHONWARNINGS": "ignore"}  # authlib's deprecation warning inside the client's own venv
TIMEOUT = 60.0
SECRET_PROMPT = "Drop the staging tables named after the otter-quartz project?"
SECRET_CHOICE = "drop-otter-quartz"
SECRET_ANSWER = "keep them until friday, walnut-comet"
SECRET_MESSAGE = "backup of otter-quartz finished at 03:14"


@pytest.fixture(scope="module", autouse=True)
def _venv() -> None:
    """Build the client's venv before the first test, outside any test's timeout."""
    hitl_cli_venv()


def hitl_cli_config(home: Path, api_key: str) -> Path:
    """``~/.config/hitl-cli`` with the token file the proxy insists on, holding the agent's API key."""
    config = home / ".config" / "hitl-cli"
    config.mkdir(parents=True, mode=0o700)
    token = config / "oauth_token.json"
    token.write_text(json.dumps({"access_token": api_key, "token_type": "Bearer"}))
    token.chmod(0o600)
    return config


@asynccontextmanager
async def hitl_cli_proxy(relay: LiveRelay, home: Path) -> AsyncIterator[Client]:
    """``hitl-cli proxy {relay}/mcp-server/mcp/`` as Claude Desktop starts it, with the SDK's stdio client."""
    venv = await asyncio.to_thread(hitl_cli_venv)
    env = {"HOME": str(home), "PATH": os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"]),
           "LANG": "C.UTF-8", "HITL_SERVER_URL": relay.url, **QUIET}
    params = StdioServerParameters(command=str(venv / "bin" / "hitl-cli"),
                                   args=["proxy", relay.url + "/mcp-server/mcp/"], env=env, cwd=str(home))
    with (home / "proxy.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            yield client


def text_of(result: CallToolResult) -> str:
    """The one text block of a tool result."""
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


def created(approver: ScriptedApprover, kind: str) -> HitlRequest | None:
    """The first request of this kind the approver saw created."""
    return next((e.request for e in approver.events if e.type == "request.created" and e.request.kind == kind), None)


async def test_proxy_seals_through_the_relay_which_answers_sealed_though_the_proxy_cannot_read_it(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    desk = await DeskEncryption.ensure(owner, relay.settings)
    assert desk.keys is not None
    agent = await relay.agent("hitl-cli-proxy")
    assert agent.credential is not None
    config = hitl_cli_config(tmp_path, agent.credential)
    async with ScriptedApprover(owner, lambda r: None) as approver, hitl_cli_proxy(relay, tmp_path) as proxy:
        keys = KeyPair.from_json((config / "agent.key").read_text())  # made by the proxy on start
        async with agent:
            await agent.register_key("agent", None, keys.public_key)
        tools = (await proxy.list_tools()).tools
        sent = await proxy.call_tool("notify_human", {"message": SECRET_MESSAGE})
        asking = asyncio.create_task(proxy.call_tool(
            "request_human_input", {"prompt": SECRET_PROMPT, "choices": [SECRET_CHOICE, "no"]}))
        await approver.wait_for(lambda a: created(a, "input") is not None, timeout=TIMEOUT)
        asked = created(approver, "input")
        assert asked is not None
        question = desk.open(asked)
        await desk.answer(owner, asked, SECRET_ANSWER)
        result = await asyncio.wait_for(asking, TIMEOUT)
    assert sorted(tool.name for tool in tools) == ["notify_human", "request_human_input"]
    assert (sent.is_error, text_of(sent)) == (False, "Notification sent successfully")
    notified = created(approver, "notification")
    assert notified is not None and desk.open(notified).prompt == SECRET_MESSAGE
    assert (question.prompt, question.choices, question.bound) == (SECRET_PROMPT, [SECRET_CHOICE, "no"], False)
    assert (asked.channel, asked.agent_name, asked.agent_public_key) == ("mcp", "hitl-cli-proxy", keys.public_key)
    # B1: the proxy fails after the relay answered, whatever the relay sends.
    assert result.is_error and "Unknown encrypted response format" in text_of(result)
    done = await owner.get_request(asked.id)
    assert done.status == "answered" and done.encrypted_response is not None
    assert open_envelope(keys.box(desk.keys.public_key), done.encrypted_response).decode() == SECRET_ANSWER
    await assert_relay_kept_none_of(relay, SECRET_PROMPT, SECRET_CHOICE, SECRET_ANSWER, SECRET_MESSAGE,
                                    logs=caplog)


async def test_proxy_with_an_api_key_alone_refuses_to_start(relay: LiveRelay, tmp_path: Path) -> None:
    """Compat doc §5 and B11: the README says an API key is enough; the code wants the token file."""
    key = (await relay.agent("no-token-file")).credential
    done = await arun_hitl_cli(["proxy", relay.url + "/mcp-server/mcp/"], server_url=relay.url, api_key=key,
                               home=tmp_path, timeout=TIMEOUT, env=QUIET)
    assert done.returncode == 1 and "Not logged in" in done.stdout
