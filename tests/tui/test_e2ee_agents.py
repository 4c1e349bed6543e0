"""Issue 6, acceptance 1 through the TUI: a question sealed by `hitl-desk request --e2ee`, and one
sent through the stdio proxy are both answered with the keyboard, and each agent receives the
plaintext answer while the relay keeps only ciphertext."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.secrecy import assert_relay_kept_none_of
from tests.tui.test_e2ee import SIZE, desk_app, desk_key_made
from tests.tui.test_pilot import row_texts
from tui.screens.request import RequestScreen

CLI_SECRET = "Deploy the vault-otter migration tonight?"
PROXY_SECRET = "Approve the invoice for cobalt-heron ltd?"


def agent_env(relay: LiveRelay, home: Path, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(home), HITL_SERVER_URL=relay.url, HITL_API_KEY=key)
    return env


async def test_cli_e2ee_question_is_answered_from_the_tui(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    app = desk_app(owner, relay)
    cli_key = (await owner.create_api_key("cli-agent")).api_key
    async with app.run_test(size=SIZE) as pilot:
        await desk_key_made(app, pilot)
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hitl_desk.cli", "request", "--e2ee", "--prompt", CLI_SECRET,
            "--choice", "deploy", "--choice", "postpone",
            env=agent_env(relay, tmp_path / "cli-home", cli_key),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await until(lambda: any(CLI_SECRET in t for t in row_texts(app)), what="CLI question", pilot=pilot)
        assert any("🔒 new key " in t and CLI_SECRET in t for t in row_texts(app))  # first use: fingerprint
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RequestScreen), what="request screen", pilot=pilot)
        await pilot.press("2")
        out, err = await asyncio.wait_for(cli.communicate(), 30)
        assert (cli.returncode, out.decode()) == (0, "postpone\n"), err.decode()
    await assert_relay_kept_none_of(relay, CLI_SECRET, "postpone")


@pytest.mark.slow  # 3.9 s: a proxy process and an MCP session
async def test_proxy_question_is_answered_from_the_tui(relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    app = desk_app(owner, relay)
    proxy_key = (await owner.create_api_key("proxy-agent")).api_key
    async with app.run_test(size=SIZE) as pilot:
        await desk_key_made(app, pilot)
        params = StdioServerParameters(command=sys.executable, args=["-m", "hitl_desk.cli", "proxy"],
                                       env=agent_env(relay, tmp_path / "proxy-home", proxy_key))
        async with Client(stdio_client(params)) as proxy:
            call = asyncio.create_task(proxy.call_tool("request_human_input", {"prompt": PROXY_SECRET}))
            await until(lambda: any(PROXY_SECRET in t for t in row_texts(app)), what="proxy question", pilot=pilot)
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, RequestScreen), what="request screen", pilot=pilot)
            await pilot.pause()
            await pilot.press(*"paid-in-full-walrus", "enter")
            result = await asyncio.wait_for(call, 30)
        assert not result.is_error and result.content[0].text == "paid-in-full-walrus"  # type: ignore[union-attr]
    await assert_relay_kept_none_of(relay, PROXY_SECRET, "paid-in-full-walrus")
