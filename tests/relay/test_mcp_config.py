"""``hitl-desk mcp-config``: each client's configuration, and a minted key that works over MCP."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import tomllib
from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.mcpconfig import CLIENTS, WAIT_SECONDS, mcp_url, render
from tests.conftest import LiveRelay
from tests.relay.test_mcp import mcp_client, text_of

URL = "http://127.0.0.1:8765/mcp"
KEY = "mcp_pk_Ab-c_1"


def parsed(client: str) -> Any:
    """The snippet for the client, parsed the way the client reads it."""
    text = render(client, URL, KEY).text
    if client == "claude-code":
        return shlex.split(text)
    if client == "codex":
        return tomllib.loads(text)
    return json.loads(text)


def test_claude_code_gets_one_shell_command_with_the_key_header() -> None:
    assert parsed("claude-code") == [
        "claude", "mcp", "add", "--transport", "http", "hitl-desk", URL, "--header", f"X-API-Key: {KEY}"]


def test_claude_code_command_quotes_an_odd_key_for_the_shell() -> None:
    odd = "k'ey $HOME"
    assert shlex.split(render("claude-code", URL, odd).text)[-1] == f"X-API-Key: {odd}"


@pytest.mark.parametrize("client,server", [
    ("cursor", {"url": URL, "headers": {"X-API-Key": KEY}}),
    ("windsurf", {"serverUrl": URL, "headers": {"X-API-Key": KEY}}),
    ("gemini", {"httpUrl": URL, "headers": {"X-API-Key": KEY}, "timeout": WAIT_SECONDS * 1000}),
])
def test_json_clients_get_an_mcp_servers_entry_in_their_own_keys(client: str, server: dict[str, Any]) -> None:
    assert parsed(client) == {"mcpServers": {"hitl-desk": server}}


def test_vscode_gets_a_typed_http_server() -> None:
    assert parsed("vscode") == {"servers": {"hitl-desk": {"type": "http", "url": URL, "headers": {"X-API-Key": KEY}}}}


def test_codex_gets_a_toml_table_with_headers_and_a_long_tool_timeout() -> None:
    assert parsed("codex") == {"mcp_servers": {"hitl-desk": {
        "url": URL, "http_headers": {"X-API-Key": KEY}, "tool_timeout_sec": WAIT_SECONDS}}}
    assert WAIT_SECONDS > 15 * 60


def test_claude_desktop_goes_through_the_mcp_remote_bridge_with_the_key_in_its_env() -> None:
    server = parsed("claude-desktop")["mcpServers"]["hitl-desk"]
    assert server["command"] == "npx"
    assert server["args"][:3] == ["-y", "mcp-remote", URL]
    assert server["args"][3:5] == ["--header", "X-API-Key:${HITL_API_KEY}"]
    assert server["env"] == {"HITL_API_KEY": KEY}
    assert KEY not in " ".join(server["args"])


def test_every_client_is_covered() -> None:
    assert set(CLIENTS) == {"claude-code", "claude-desktop", "cursor", "codex", "gemini", "windsurf", "vscode"}
    assert mcp_url("http://127.0.0.1:8765/") == URL


async def cli(relay: LiveRelay, *args: str) -> tuple[int, str, str]:
    """Run ``hitl-desk`` against the live relay, as its owner on this machine would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(relay.home), HITL_SERVER_URL=relay.url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_minted_key_from_mcp_config_works_over_mcp(relay: LiveRelay, owner: RelayClient) -> None:
    code, out, err = await cli(relay, "mcp-config", "cursor", "--agent", "cursor-agent")
    assert code == 0, err
    server = json.loads(out)["mcpServers"]["hitl-desk"]
    assert server["url"] == relay.url + "/mcp" and "Minted a new key for agent 'cursor-agent'" in err
    async with mcp_client(server["url"], server["headers"]["X-API-Key"], "legacy") as client:
        assert text_of(await client.call_tool("notify_human", {"message": "configured"})) == "Notification sent"
    assert [(r.agent_name, r.prompt) for r in await owner.list_requests()] == [("cursor-agent", "configured")]


async def test_minted_key_belongs_to_an_agent_named_after_the_client(relay: LiveRelay,
                                                                     owner: RelayClient) -> None:
    code, out, err = await cli(relay, "mcp-config", "claude-code")
    assert code == 0, err
    assert shlex.split(out)[:7] == ["claude", "mcp", "add", "--transport", "http", "hitl-desk", relay.url + "/mcp"]
    assert [key.agent_name for key in await owner.list_api_keys()] == ["claude-code"]


async def test_given_key_needs_no_relay(relay: LiveRelay) -> None:
    code, out, err = await cli(relay, "--url", "http://127.0.0.1:9", "mcp-config", "vscode", "--key", KEY)
    assert code == 0, err
    assert json.loads(out)["servers"]["hitl-desk"]["url"] == "http://127.0.0.1:9/mcp"


async def test_unknown_client_is_a_usage_error(relay: LiveRelay) -> None:
    code, _, err = await cli(relay, "mcp-config", "notepad")
    assert code == 2 and "claude-code" in err


async def test_mcp_config_reuses_the_key_it_minted_for_that_client(relay: LiveRelay, owner: RelayClient) -> None:
    code, first, err = await cli(relay, "mcp-config", "cursor")
    assert code == 0 and "Minted a new key" in err, err
    kept = relay.home / "mcp-keys.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    code, second, err = await cli(relay, "mcp-config", "cursor")
    assert code == 0 and "Reusing the key minted for cursor" in err, err
    assert second == first and len(await owner.list_api_keys()) == 1  # no duplicate key
    code, other, err = await cli(relay, "mcp-config", "vscode")  # another client: its own key
    assert code == 0 and "Minted a new key for agent 'vscode'" in err
    assert len(await owner.list_api_keys()) == 2


async def test_mcp_config_mints_again_and_says_so_when_its_key_was_revoked(relay: LiveRelay,
                                                                           owner: RelayClient) -> None:
    code, first, err = await cli(relay, "mcp-config", "gemini")
    assert code == 0, err
    (revoked,) = await owner.list_api_keys()
    await owner.revoke_api_key(revoked.prefix)
    code, second, err = await cli(relay, "mcp-config", "gemini")
    assert code == 0 and "Minted a new key for agent 'gemini'" in err and "revoked or unknown" in err, err
    key = json.loads(second)["mcpServers"]["hitl-desk"]["headers"]["X-API-Key"]
    assert key != json.loads(first)["mcpServers"]["hitl-desk"]["headers"]["X-API-Key"]
    assert key.startswith(next(k.prefix for k in await owner.list_api_keys() if k.revoked_at is None))
