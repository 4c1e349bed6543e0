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
        return [shlex.split(line) for line in text.splitlines() if not line.startswith("#")]
    if client == "codex":
        return tomllib.loads(text)
    return json.loads(text)


def test_claude_code_gets_add_json_with_a_long_timeout_and_the_setting_that_keeps_waits_in_front() -> None:
    add, export = parsed("claude-code")
    assert add[:4] == ["claude", "mcp", "add-json", "hitl-desk"]
    assert json.loads(add[4]) == {"type": "http", "url": URL, "headers": {"X-API-Key": KEY},
                                  "timeout": WAIT_SECONDS * 1000, "alwaysLoad": True}
    assert export == ["export", "CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS=0"]
    headless = render("claude-code", URL, KEY).text.splitlines()[-1]
    assert shlex.split(headless.lstrip("# "))[:5] == [
        "claude", "-p", "your task", "--allowedTools", "mcp__hitl-desk__request_human_input"]
    # One line of why above each command.
    assert [line.startswith("#") for line in render("claude-code", URL, KEY).text.splitlines()] == [
        True, False, True, False, True, True]


def test_claude_code_command_quotes_an_odd_key_for_the_shell() -> None:
    odd = "k'ey $HOME"
    (add, _export) = [shlex.split(line) for line in render("claude-code", URL, odd).text.splitlines()
                      if not line.startswith("#")]
    assert json.loads(add[-1])["headers"] == {"X-API-Key": odd}


@pytest.mark.parametrize("client,server", [
    ("cursor", {"url": URL, "headers": {"X-API-Key": KEY}}),
    ("windsurf", {"serverUrl": URL, "headers": {"X-API-Key": KEY}}),
    ("gemini", {"url": URL, "type": "http", "headers": {"X-API-Key": KEY}, "timeout": WAIT_SECONDS * 1000,
                "trust": True}),
])
def test_json_clients_get_an_mcp_servers_entry_in_their_own_keys(client: str, server: dict[str, Any]) -> None:
    assert parsed(client) == {"mcpServers": {"hitl-desk": server}}


def test_vscode_gets_a_typed_http_server() -> None:
    assert parsed("vscode") == {"servers": {"hitl-desk": {"type": "http", "url": URL, "headers": {"X-API-Key": KEY}}}}


def test_codex_gets_a_toml_table_with_a_bearer_variable_a_long_tool_timeout_and_no_per_call_approval() -> None:
    assert parsed("codex") == {"mcp_servers": {"hitl-desk": {
        "url": URL, "bearer_token_env_var": "HITL_API_KEY", "tool_timeout_sec": WAIT_SECONDS,
        "default_tools_approval_mode": "approve"}}}
    assert f"#   export HITL_API_KEY={KEY}" in render("codex", URL, KEY).text.splitlines()
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
    add = shlex.split(out.splitlines()[1])
    assert add[:4] == ["claude", "mcp", "add-json", "hitl-desk"] and json.loads(add[4])["url"] == relay.url + "/mcp"
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
