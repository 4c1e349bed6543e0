"""The stdio E2EE proxy, driven by the MCP SDK's stdio client as Claude Desktop would drive it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from hitl_desk.e2ee import DeskEncryption
from tests.conftest import LiveRelay
from tests.relay.test_e2ee import EncryptedApprover
from tests.secrecy import assert_relay_kept_none_of

SECRET = "approve the wire transfer to account 0042-secret?"


async def test_proxy_asks_through_the_relay_with_only_ciphertext_on_the_relay(
        relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        desk = await DeskEncryption.ensure(owner, relay.settings)
        created = await owner.create_api_key("proxy-agent")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
        env.update(HITL_HOME=str(tmp_path / "agent-home"), HITL_SERVER_URL=relay.url,
                   HITL_API_KEY=created.api_key)
        params = StdioServerParameters(command=sys.executable,
                                       args=["-m", "hitl_desk.cli", "proxy", "--progress-interval", "0.05"], env=env)
        progress: list[float] = []
        human_reads_it = asyncio.Event()  # the human answers only once the agent heard progress

        async def on_progress(progress_value: float, total: float | None, message: str | None) -> None:
            progress.append(progress_value)
            human_reads_it.set()

        async with EncryptedApprover(owner, desk, "approved, go", gate=human_reads_it) as approver:
            async with Client(stdio_client(params)) as client:
                tools = await client.list_tools()
                assert sorted(t.name for t in tools.tools) == [
                    "notify_human", "notify_human_completion", "request_human_input"]
                assert all(t.annotations and t.annotations.title == t.title and t.annotations.destructive_hint is False
                           and t.annotations.open_world_hint is False for t in tools.tools)
                result = await asyncio.wait_for(client.call_tool(
                    "request_human_input", {"prompt": SECRET, "choices": ["yes", "no"]},
                    progress_callback=on_progress), 60)
                assert not result.is_error, result
                assert result.content[0].text == "approved, go"  # type: ignore[union-attr]
                assert progress and progress == sorted(progress)
                sent = await client.call_tool("notify_human", {"message": "done: " + SECRET})
                assert "encrypted" in sent.content[0].text  # type: ignore[union-attr]
        assert approver.seen[0].prompt == SECRET and approver.seen[0].choices == ["yes", "no"]
        stored = await owner.list_requests()
        assert [r.encrypted for r in stored] == [True, True]
    await assert_relay_kept_none_of(relay, SECRET)
