"""MCP at /mcp and /mcp-server/mcp/: the SDK's own client, both protocol paths, against the live relay."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, live_relay, start_relay

MODES = ["auto", "legacy"]
PROGRESS_INTERVAL = 0.05
DEADLINE = 10.0
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
SSE_ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """The live relay, sending MCP progress every PROGRESS_INTERVAL seconds."""
    async with live_relay(tmp_path, mcp_progress_interval=PROGRESS_INTERVAL) as live:
        yield live


@pytest.fixture
async def agent_key(relay: LiveRelay) -> str:
    """A fresh API key for the agent "mcp-agent"."""
    client = await relay.agent("mcp-agent")
    assert client.credential
    return client.credential


@asynccontextmanager
async def mcp_client(url: str, credential: str | None, mode: str, *, http_timeout: float = DEADLINE,
                     **client_options: Any) -> AsyncIterator[Client]:
    """The mcp SDK client on the relay's endpoint, authenticating with an X-API-Key header."""
    headers = {"X-API-Key": credential} if credential else {}
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx2.AsyncClient(headers=headers, timeout=http_timeout, limits=limits) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, **client_options) as client:
            yield client


def text_of(result: CallToolResult) -> str:
    """The one text block of a tool result."""
    assert len(result.content) == 1
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


@dataclass
class Progress:
    """Progress notifications one call received."""

    updates: asyncio.Queue[tuple[float, float | None, str | None]]

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.put_nowait((progress, total, message))


def created_with(prompt: str) -> Callable[[ScriptedApprover], bool]:
    """Approver predicate: a request with this prompt was created."""
    return lambda approver: any(e.type == "request.created" and e.request.prompt == prompt for e in approver.events)


def closed_as(prompt: str, event_type: str) -> Callable[[ScriptedApprover], bool]:
    """Approver predicate: the request with this prompt got this event."""
    return lambda approver: any(e.type == event_type and e.request.prompt == prompt for e in approver.events)


def request_of(approver: ScriptedApprover, prompt: str) -> HitlRequest:
    """The request as the approver first saw it."""
    return next(e.request for e in approver.events if e.type == "request.created" and e.request.prompt == prompt)


def never(_request: HitlRequest) -> str | None:
    """An approver that only watches."""
    return None


# -- acceptance 1: the SDK client in both modes -----------------------------------------------

@pytest.mark.parametrize("mode", MODES)
async def test_sdk_client_lists_three_plain_text_tools_and_the_prompt(relay: LiveRelay, agent_key: str,
                                                                      mode: str) -> None:
    async with mcp_client(relay.url + "/mcp", agent_key, mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        rendered = await client.get_prompt("hitl_coms_only")
    assert set(tools) - {"request_human_input_e2ee", "notify_human_e2ee"} == {  # those: test_mcp_e2ee
        "request_human_input", "notify_human", "notify_human_completion"}
    assert all(tool.output_schema is None and tool.description for tool in tools.values())
    ask = tools["request_human_input"].input_schema
    assert ask["required"] == ["prompt"]
    assert {"prompt", "choices", "placeholder_text", "agent_name", "timeout_seconds"} <= set(ask["properties"])
    assert tools["notify_human"].input_schema["required"] == ["message"]
    assert tools["notify_human_completion"].input_schema["required"] == ["summary"]
    assert list(prompts) == ["hitl_coms_only"]
    message = rendered.messages[0].content
    assert isinstance(message, TextContent) and "request_human_input" in message.text


@pytest.mark.parametrize("mode", MODES)
async def test_question_with_choices_reports_progress_then_returns_the_approvers_answer(
        relay: LiveRelay, owner: RelayClient, agent_key: str, mode: str) -> None:
    progress = Progress(asyncio.Queue())
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp-server/mcp/", agent_key, mode) as client:
        call = asyncio.create_task(client.call_tool(
            "request_human_input", {"prompt": "Deploy now?", "choices": ["yes", "no"]}, progress_callback=progress))
        async with asyncio.timeout(DEADLINE):
            first = await progress.updates.get()
            second = await progress.updates.get()  # a periodic one: the call is still waiting
            assert not call.done()
            await approver.wait_for(created_with("Deploy now?"))
            asked = request_of(approver, "Deploy now?")
            await owner.answer(asked.id, "no")
            result = await call
    assert (result.is_error, text_of(result)) == (False, "no")
    assert asked.choices == ["yes", "no"] and asked.agent_name == "mcp-agent" and asked.kind == "input"
    assert first[0] == 0 and asked.id in (first[2] or "")
    assert second[0] > first[0] and second[1] == first[1] == 900


@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/mcp-server/mcp", "/mcp-server/mcp/"])
async def test_every_mcp_path_reaches_the_same_server(relay: LiveRelay, agent_key: str, path: str) -> None:
    async with mcp_client(relay.url + path, agent_key, "legacy") as client:
        result = await client.call_tool("notify_human", {"message": f"via {path}"})
    assert (result.is_error, text_of(result)) == (False, "Notification sent")


@pytest.mark.parametrize("mode", MODES)
async def test_notify_confirms_at_once_and_completion_waits_for_the_reply(
        relay: LiveRelay, owner: RelayClient, agent_key: str, mode: str) -> None:
    async with ScriptedApprover(owner, lambda r: "looks good" if r.kind == "completion" else None) as approver, \
            mcp_client(relay.url + "/mcp", agent_key, mode) as client:
        sent = await client.call_tool("notify_human", {"message": "Build started"})
        done = await client.call_tool("notify_human_completion", {"summary": "Tests pass"})
        await approver.wait_for(lambda a: len(a.events) >= 3)
    assert text_of(sent) == "Notification sent" and text_of(done) == "looks good"
    kinds = [(e.type, e.request.kind, e.request.prompt) for e in approver.events]
    assert kinds == [("request.created", "notification", "Build started"),
                     ("request.created", "completion", "Tests pass"),
                     ("request.answered", "completion", "Tests pass")]


@pytest.mark.parametrize("mode", MODES)
async def test_agent_is_the_keys_else_agent_name_else_the_mcp_clients_name(
        relay: LiveRelay, owner: RelayClient, agent_key: str, mode: str) -> None:
    async with mcp_client(relay.url + "/mcp", agent_key, mode) as client:
        await client.call_tool("notify_human", {"message": "key", "agent_name": "ignored"})
    async with mcp_client(relay.url + "/mcp", relay.owner_token, mode) as client:
        await client.call_tool("notify_human", {"message": "named", "agent_name": "named-agent"})
        await client.call_tool("notify_human", {"message": "anonymous"})
    seen = {r.prompt: r.agent_name for r in await owner.list_requests()}
    assert seen == {"key": "mcp-agent", "named": "named-agent", "anonymous": "mcp"}  # "mcp": the SDK's client name


# -- acceptance 4: refused before the MCP layer, and bad arguments ----------------------------

async def test_call_without_a_key_gets_401_with_www_authenticate(relay: LiveRelay) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/mcp", "/mcp-server/mcp/"):
            async with http.post(relay.url + path, json=INIT, headers=SSE_ACCEPT) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert (await response.json())["error"]["code"] == "unauthorized"
            unknown = {**SSE_ACCEPT, "X-API-Key": "mcp_pk_nope"}
            async with http.post(relay.url + path, json=INIT, headers=unknown) as bad:
                assert bad.status == 401


async def test_sdk_client_without_a_key_fails_to_connect(relay: LiveRelay) -> None:
    with pytest.raises(ExceptionGroup) as caught:
        async with mcp_client(relay.url + "/mcp", None, "legacy"):
            pass
    assert caught.group_contains(MCPError, match="error response", depth=2)


@pytest.mark.parametrize("headers,code", [
    ({"Origin": "https://evil.example"}, "origin_not_allowed"),
    ({"Origin": "null"}, "origin_not_allowed"),
    ({"Host": "evil.example"}, "host_not_allowed"),
])
async def test_foreign_origin_or_host_is_refused_even_with_a_valid_key(
        relay: LiveRelay, agent_key: str, headers: dict[str, str], code: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", json=INIT,
                             headers={**SSE_ACCEPT, "X-API-Key": agent_key, **headers}) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == code


async def test_local_origin_is_accepted(relay: LiveRelay, agent_key: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", json=INIT, headers={
                **SSE_ACCEPT, "X-API-Key": agent_key, "Origin": relay.url}) as response:
            assert response.status == 200


@pytest.mark.parametrize("arguments,fields", [
    ({}, ["prompt"]),
    ({"prompt": 42}, ["prompt"]),
    ({"prompt": ""}, ["prompt"]),
    ({"prompt": "x", "choices": "yes"}, ["choices"]),
    ({"prompt": "x", "choices": [str(n) for n in range(21)]}, ["choices"]),
    ({"prompt": "x", "timeout_seconds": -1}, ["timeout_seconds"]),
    ({"prompt": "x" * 20_001}, ["prompt"]),
    ({"prompt": "x", "agent_name": " "}, ["agent_name"]),
])
async def test_bad_arguments_get_a_tool_error_naming_the_field(
        relay: LiveRelay, owner: RelayClient, agent_key: str, arguments: dict[str, Any], fields: list[str]) -> None:
    async with mcp_client(relay.url + "/mcp", agent_key, "legacy") as client:
        result = await client.call_tool("request_human_input", arguments)
        after = await client.call_tool("notify_human", {"message": "still here"})
    assert result.is_error
    assert all(field in text_of(result) for field in fields), text_of(result)
    assert text_of(after) == "Notification sent"
    assert [r.prompt for r in await owner.list_requests()] == ["still here"]  # nothing half-made


async def test_unknown_tool_is_an_error_not_a_crash(relay: LiveRelay, agent_key: str) -> None:
    async with mcp_client(relay.url + "/mcp", agent_key, "legacy") as client:
        result = await client.call_tool("delete_everything", {})
    assert result.is_error and "delete_everything" in text_of(result)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"jsonrpc": "2.0"}', b'{"jsonrpc": "2.0", "id": 1}', b"",
                                  json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                              "params": {"name": 5}}).encode()])
async def test_malformed_json_rpc_is_a_4xx_never_a_5xx(relay: LiveRelay, agent_key: str, body: bytes) -> None:
    headers = {**SSE_ACCEPT, "X-API-Key": agent_key, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for version in ("2025-06-18", "2026-07-28"):
            async with http.post(relay.url + "/mcp", data=body,
                                 headers={**headers, "MCP-Protocol-Version": version}) as response:
                assert 400 <= response.status < 500, (version, response.status, await response.text())
        too_big = io.BytesIO(b"x" * (2 * 1024 * 1024))
        async with http.post(relay.url + "/mcp", data=too_big, headers=headers) as response:
            assert response.status == 413


async def test_session_belongs_to_the_key_that_opened_it(relay: LiveRelay, agent_key: str) -> None:
    other = await relay.agent("other-agent")
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", json=INIT, headers={**SSE_ACCEPT, "X-API-Key": agent_key}) as opened:
            session = opened.headers["mcp-session-id"]
            await opened.read()
        stolen = {**SSE_ACCEPT, "X-API-Key": str(other.credential), "mcp-session-id": session,
                  "MCP-Protocol-Version": "2025-06-18"}
        async with http.post(relay.url + "/mcp", json=listing, headers=stolen) as response:
            assert response.status == 404
        own = {**stolen, "X-API-Key": agent_key}
        async with http.post(relay.url + "/mcp", json=listing, headers=own) as response:
            assert response.status == 200


# -- cancellation, hang-up, expiry, dismissal --------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
async def test_cancelled_call_withdraws_its_question(relay: LiveRelay, owner: RelayClient, agent_key: str,
                                                     mode: str) -> None:
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent_key, mode) as client:
        call = asyncio.create_task(client.call_tool("request_human_input", {"prompt": "Cancel me"}))
        await approver.wait_for(created_with("Cancel me"))
        call.cancel()
        await approver.wait_for(closed_as("Cancel me", "request.cancelled"))
        # The session (legacy) or connection (modern) is still good for the next call.
        assert text_of(await client.call_tool("notify_human", {"message": "after"})) == "Notification sent"
    cancelled = next(e.request for e in approver.events if e.type == "request.cancelled")
    assert cancelled.answered_by == "agent:mcp-agent"
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_client_hanging_up_mid_question_withdraws_it(relay: LiveRelay, owner: RelayClient,
                                                           agent_key: str) -> None:
    """A stateful session outlives the POST carrying the call; closing that POST still withdraws it."""
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "request_human_input", "arguments": {"prompt": "Hang up"}, "_meta": {"progressToken": 7}}}
    async with ScriptedApprover(owner, never) as approver, aiohttp.ClientSession() as http:
        headers = {**SSE_ACCEPT, "X-API-Key": agent_key}
        async with http.post(relay.url + "/mcp", json=INIT, headers=headers) as opened:
            headers |= {"mcp-session-id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
            await opened.read()
        async with http.post(relay.url + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                             headers=headers) as initialized:
            assert initialized.status == 202
        response = await http.post(relay.url + "/mcp", json=call, headers=headers)
        async with asyncio.timeout(DEADLINE):
            async for line in response.content:  # wait until the question is asked and waiting
                if line.startswith(b"data:") and b"notifications/progress" in line:
                    break
        response.close()  # hang up without a DELETE: the session itself stays open
        await approver.wait_for(closed_as("Hang up", "request.cancelled"))


async def test_expiry_is_a_tool_error_not_an_answer(relay: LiveRelay, owner: RelayClient, agent_key: str) -> None:
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent_key, "auto") as client:
        result = await client.call_tool("request_human_input", {"prompt": "Too slow", "timeout_seconds": 0.2})
        await approver.wait_for(closed_as("Too slow", "request.expired"))
    assert result.is_error and "expired" in text_of(result)


async def test_expiry_with_a_default_answer_returns_the_default(relay: LiveRelay, agent_key: str) -> None:
    async with mcp_client(relay.url + "/mcp", agent_key, "legacy") as client:
        result = await client.call_tool("request_human_input", {
            "prompt": "Retry?", "timeout_seconds": 0.2, "default_answer": "skip"})
    assert (result.is_error, text_of(result)) == (False, "skip")


async def test_human_dismissing_the_question_is_a_tool_error(relay: LiveRelay, owner: RelayClient,
                                                             agent_key: str) -> None:
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent_key, "legacy") as client:
        call = asyncio.create_task(client.call_tool("request_human_input", {"prompt": "Dismiss me"}))
        await approver.wait_for(created_with("Dismiss me"))
        await owner.cancel(request_of(approver, "Dismiss me").id)
        result = await asyncio.wait_for(call, DEADLINE)
    assert result.is_error and "dismissed" in text_of(result)


# -- the relay around it ------------------------------------------------------------------------

async def test_mcp_server_leaves_the_root_logger_alone(relay: LiveRelay) -> None:
    assert not [h for h in logging.getLogger().handlers if type(h).__name__ == "RichHandler"]


async def test_relay_stops_cleanly_with_a_question_waiting(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", mcp_progress_interval=PROGRESS_INTERVAL)
    live = LiveRelay(running, tmp_path / "home")
    key = (await live.agent("stopper")).credential
    async with live.owner() as owner, ScriptedApprover(owner, never) as approver:
        async with mcp_client(live.url + "/mcp", key, "legacy") as client:
            call = asyncio.create_task(client.call_tool("request_human_input", {"prompt": "Still there?"}))
            await approver.wait_for(created_with("Still there?"))
            async with asyncio.timeout(DEADLINE):
                await running.stop()
            with pytest.raises(MCPError, match="without a response"):  # the stream ended under the call
                await call
    restarted = await start_relay(tmp_path / "home")
    try:
        async with RelayClient(restarted.url, live.owner_token) as owner:
            pending = await owner.list_requests("pending")
    finally:
        await restarted.stop()
    assert [r.prompt for r in pending] == ["Still there?"]  # kept, like any request across a restart
