"""The request lifecycle's limits: a per-agent cap on pending requests, and the list read in pages."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.errors import TooManyPendingError
from hitl_desk.models import HitlRequest
from relay.command import config_from_args
from relay.context import RelayConfig
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, live_relay, start_relay
from tests.relay.test_mcp import mcp_client, never, text_of

CAP = 3


@pytest.fixture
async def capped(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A relay that lets one agent have CAP requests pending."""
    async with live_relay(tmp_path, max_pending=CAP) as live:
        yield live


async def _raw(relay: LiveRelay, method: str, path: str, credential: str,
               **kwargs: object) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {credential}"}) as http:
        async with http.request(method, relay.url + path, **kwargs) as resp:  # type: ignore[arg-type]
            return resp.status, await resp.json()


# -- the cap on pending requests --------------------------------------------------------------

async def test_agent_over_its_pending_cap_gets_429_too_many_pending(capped: LiveRelay) -> None:
    agent = await capped.agent("busy")
    other = await capped.agent("calm")
    async with agent, other, capped.owner() as owner:
        asked = [await agent.create_request(f"q{i}") for i in range(CAP)]
        with pytest.raises(TooManyPendingError):
            await agent.create_request("one too many")
        with pytest.raises(TooManyPendingError):  # a completion counts the same
            await agent.create_completion("done, one too many")
        assert agent.credential
        status, body = await _raw(capped, "POST", "/api/v1/hitl/request", agent.credential,
                                  json={"prompt": "blocking, one too many"})
        assert status == 429
        assert body["error"] == {"code": "too_many_pending", "message": body["detail"],
                                 "details": {"pending": CAP, "max_pending": CAP}}
        await other.create_request("another agent has its own cap")
        await agent.notify("notifications are never pending")
        await owner.answer(asked[0].id, "ok")
        await agent.create_request("room again after an answer")
        pending = await owner.list_requests("pending")
    assert sorted(r.prompt for r in pending) == ["another agent has its own cap", "q1", "q2",
                                                 "room again after an answer"]


async def test_concurrent_requests_cannot_overshoot_the_cap(capped: LiveRelay) -> None:
    agent = await capped.agent("burst")
    async with agent:
        results = await asyncio.gather(*(agent.create_request(f"burst {i}") for i in range(20)),
                                       return_exceptions=True)
    made = [r for r in results if isinstance(r, HitlRequest)]
    refused = [r for r in results if isinstance(r, TooManyPendingError)]
    assert (len(made), len(refused)) == (CAP, 20 - CAP)


async def test_mcp_call_over_the_cap_is_a_tool_error_with_the_code(capped: LiveRelay) -> None:
    agent = await capped.agent("mcp-busy")
    async with agent:
        for i in range(CAP):
            await agent.create_request(f"q{i}")
    assert agent.credential
    async with mcp_client(capped.url + "/mcp", agent.credential, "legacy") as client:
        result = await client.call_tool("request_human_input", {"prompt": "one too many"})
    assert result.is_error
    assert "too_many_pending" in text_of(result)


def test_relay_command_reads_max_pending_and_leave_grace(tmp_path: Path) -> None:
    from hitl_desk.settings import Settings

    settings = Settings(home=tmp_path)
    args = argparse.Namespace(max_pending=7, leave_grace=2.5)
    config = config_from_args(args, settings)
    assert (config.max_pending, config.leave_grace) == (7, 2.5)
    unlimited = config_from_args(argparse.Namespace(max_pending=0), settings)
    assert unlimited.max_pending is None
    assert config_from_args(argparse.Namespace(), settings).max_pending == RelayConfig.max_pending == 100


# -- paging -----------------------------------------------------------------------------------

TOTAL = 1200


async def _ask_many(client: RelayClient, count: int, prefix: str) -> list[HitlRequest]:
    made: list[HitlRequest] = []
    for start in range(0, count, 100):  # bounded bursts: the relay's own limits are not under test here
        made += await asyncio.gather(*(client.create_request(f"{prefix} {i}")
                                       for i in range(start, min(count, start + 100))))
    return made


@pytest.mark.slow
async def test_1200_pending_requests_page_through_once_each_while_others_arrive_and_close(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", max_pending=None)
    live = LiveRelay(running, tmp_path / "home")
    try:
        async with live.owner() as owner:
            asked = await _ask_many(owner, TOTAL, "first")
            seen: list[str] = []
            arrived: list[HitlRequest] = []
            cursor: str | None = None
            pages = 0
            while True:
                page = await owner.requests_page("pending", limit=100, cursor=cursor)
                seen += [r.id for r in page.requests]
                pages += 1
                # Meanwhile: new questions arrive and some already read are answered.
                arrived += await _ask_many(owner, 7, f"arrived {pages}")
                for request in page.requests[:3]:
                    await owner.answer(request.id, "done")
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            newest = [r.id async for r in owner.iter_requests("pending", page_size=250, newest_first=True)]
            everything = await owner.list_requests("pending", limit=10_000)  # the approvers' call, paged
            listed = [r.id for r in await owner.list_requests()]
    finally:
        await running.stop()
    assert len(seen) == len(set(seen)), "a request was listed twice"
    assert {r.id for r in asked} <= set(seen), "a request was skipped"
    assert set(seen) <= {r.id for r in asked + arrived}
    assert pages >= TOTAL // 100
    assert len(newest) == len(set(newest))
    assert [r.id for r in everything] == newest[::-1]  # newest first is exactly the reverse
    assert sorted(listed) == sorted(r.id for r in asked + arrived)


async def test_page_size_over_500_is_422_and_a_forged_cursor_is_422(relay: LiveRelay) -> None:
    status, body = await _raw(relay, "GET", "/api/v1/hitl/requests?limit=501", relay.owner_token)
    assert (status, body["error"]["code"]) == (422, "invalid_request")  # type: ignore[index]
    for cursor in ("not-a-cursor", "cjEueA", "%%%"):
        status, body = await _raw(relay, "GET", "/api/v1/hitl/requests", relay.owner_token,
                                  params={"cursor": cursor})
        assert (status, body["error"]["code"]) == (422, "invalid_request"), cursor  # type: ignore[index]


async def test_list_answers_one_page_and_a_cursor(relay: LiveRelay, owner: RelayClient) -> None:
    made = [await owner.create_request(f"q{i}") for i in range(5)]
    first = await owner.requests_page(limit=2)
    second = await owner.requests_page(limit=2, cursor=first.next_cursor)
    last = await owner.requests_page(limit=2, cursor=second.next_cursor)
    assert [r.id for r in first.requests + second.requests + last.requests] == [r.id for r in made]
    assert last.next_cursor is None
    status, body = await _raw(relay, "GET", "/api/v1/hitl/requests", relay.owner_token)
    assert status == 200 and body["next_cursor"] is None and len(body["requests"]) == 5  # type: ignore[arg-type]


async def test_openapi_describes_the_page_and_its_cursor(relay: LiveRelay) -> None:
    status, doc = await _raw(relay, "GET", "/api/v1/openapi.json", relay.owner_token)
    assert status == 200
    operation = doc["paths"]["/api/v1/hitl/requests"]["get"]  # type: ignore[index]
    params = {p["name"]: p for p in operation["parameters"]}
    assert {"cursor", "limit", "status", "kind", "order"} <= set(params)
    assert params["limit"]["schema"]["maximum"] == 500
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/RequestPage")
    page = doc["components"]["schemas"]["RequestPage"]  # type: ignore[index]
    assert {"requests", "next_cursor"} <= set(page["properties"])
    cancelled = doc["components"]["schemas"]["HitlRequest"]["properties"]["cancel_reason"]  # type: ignore[index]
    assert "agent_left" in str(cancelled)
    cancel = doc["paths"]["/api/v1/hitl/requests/{request_id}/cancel"]["post"]  # type: ignore[index]
    assert cancel["requestBody"]["required"] is False  # the reason is optional
    assert "429" in doc["paths"]["/api/v1/hitl/request"]["post"]["responses"]  # type: ignore[index]


async def test_mcp_tool_withdrawal_says_the_agent_left(relay: LiveRelay, owner: RelayClient) -> None:
    agent = await relay.agent("mcp-leaver")
    await agent.close()
    assert agent.credential
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
        call = asyncio.create_task(client.call_tool("request_human_input", {"prompt": "Leaving"}))
        await approver.wait_for(lambda a: any(e.type == "request.created" for e in a.events))
        call.cancel()
        await approver.wait_for(lambda a: any(e.type == "request.cancelled" for e in a.events))
    gone = next(e.request for e in approver.events if e.type == "request.cancelled")
    assert gone.cancel_reason == "agent_left"
    await asyncio.gather(call, return_exceptions=True)


async def test_a_human_dismissing_over_the_event_stream_is_dismissed(relay: LiveRelay, owner: RelayClient) -> None:
    asked = await owner.create_request("Dismiss me")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {relay.owner_token}"}) as http:
        async with http.ws_connect(relay.url + "/api/v1/events") as ws:
            await ws.send_json({"id": 1, "type": "cancel", "request_id": asked.id})
            async with asyncio.timeout(10):
                while (frame := await ws.receive_json())["type"] != "result":
                    pass
    assert frame["ok"], frame
    assert (await owner.get_request(asked.id)).cancel_reason == "dismissed"
