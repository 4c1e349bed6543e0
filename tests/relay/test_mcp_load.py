"""A thousand MCP tool calls waiting on the human at once, each getting its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from hitl_desk.client import RelayClient
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, live_relay
from tests.relay.test_mcp import PROGRESS_INTERVAL, mcp_client, never, text_of


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """The live relay with MCP's short progress interval, and no cap on one agent's pending
    requests: here one agent asks a thousand questions at once."""
    async with live_relay(tmp_path, mcp_progress_interval=PROGRESS_INTERVAL, max_pending=None) as live:
        yield live

CALLS = 1000
# The SDK client in both modes, several calls in flight per client: every call is its own
# POST (its own connection here). Eight clients rather than a thousand keep the test process,
# which also runs the relay, within its two cores.
CLIENTS = [("auto", 125)] * 4 + [("legacy", 125)] * 4


@pytest.mark.timeout(90)
@pytest.mark.slow  # a thousand waiting calls: CI runs it, the inner loop does not
async def test_thousand_concurrent_tool_calls_wait_at_once_and_each_gets_its_own_answer(
        relay: LiveRelay, owner: RelayClient) -> None:
    key = (await relay.agent("load-agent")).credential
    assert key is not None
    ready = asyncio.Event()

    async def ask_many(client_index: int, mode: str, count: int) -> list[tuple[str, str]]:
        # The test process runs the relay and all 1,000 calls on one loop: on a loaded 2-core
        # machine accepting them all takes longer than the usual 10 s client timeout.
        async with mcp_client(relay.url + "/mcp", key, mode, http_timeout=60) as client:
            return await asyncio.gather(*(ask(client, f"q{client_index}-{n}") for n in range(count)))

    async def ask(client: Client, prompt: str) -> tuple[str, str]:
        result = await client.call_tool("request_human_input", {"prompt": prompt, "choices": ["a", prompt]})
        assert ready.is_set()  # nobody got an answer before all of them were waiting
        return prompt, text_of(result)

    async with ScriptedApprover(owner, never) as approver:
        calls = [asyncio.create_task(ask_many(i, mode, count)) for i, (mode, count) in enumerate(CLIENTS)]
        created = lambda a: sum(e.type == "request.created" for e in a.events) >= CALLS  # noqa: E731
        await approver.wait_for(created, timeout=60)
        assert (await owner.health()).pending == CALLS
        assert not any(call.done() for call in calls)
        ready.set()
        pending = [e.request for e in approver.events if e.type == "request.created"]
        await asyncio.gather(*(owner.answer(r.id, f"answer to {r.prompt}") for r in pending))
        async with asyncio.timeout(60):
            answers = [pair for per_client in await asyncio.gather(*calls) for pair in per_client]
    assert len(answers) == CALLS == len({prompt for prompt, _ in answers})
    assert all(text == f"answer to {prompt}" for prompt, text in answers)
