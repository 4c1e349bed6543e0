"""The approvers' event stream: ordered, replayable with since, and a command channel (cancel, ping)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.models import Event
from tests.conftest import LiveRelay
from tests.deadline import until


async def collect(stream_iter: object, count: int) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(10):
        async for event in stream_iter:  # type: ignore[attr-defined]
            events.append(event)
            if len(events) == count:
                return events
    return events


async def test_reconnecting_approver_receives_every_missed_event_in_order(relay: LiveRelay, owner: RelayClient) -> None:
    first = await owner.create_request("before")
    stream = owner.event_stream(since=0)
    seen = await collect(stream, 1)
    assert seen[0].request.id == first.id
    last = stream.last_seq
    missed = [await owner.create_request(f"while away {i}") for i in range(5)]
    await owner.answer(missed[0].id, "done")
    await owner.cancel(missed[1].id)
    async with relay.owner() as again:
        replay = await collect(again.event_stream(since=last), 7)
    assert [e.seq for e in replay] == list(range(last + 1, last + 8))
    assert [e.type for e in replay] == ["request.created"] * 5 + ["request.answered", "request.cancelled"]
    assert [e.request.id for e in replay[:5]] == [r.id for r in missed]


async def test_stream_resumes_by_itself_after_the_relay_restarts(relay: LiveRelay) -> None:
    from tests.conftest import start_relay

    port = relay.running.port
    async with relay.owner() as approver:
        stream = approver.event_stream()
        got: list[Event] = []

        async def follow() -> None:
            async for event in stream:
                got.append(event)

        task = asyncio.create_task(follow())
        async with asyncio.timeout(10):
            await stream.ready.wait()
        await relay.running.stop()
        await until(lambda: not stream.state.connected, "the stream to see the relay go")
        relay.running = await start_relay(relay.home, port)
        async with relay.owner() as agent:
            created = await agent.create_request("after restart")
        await until(lambda: got, "the replayed event")
        task.cancel()
    assert got[0].request.id == created.id


async def test_websocket_commands_cancel_and_report_errors(relay: LiveRelay, owner: RelayClient) -> None:
    created = await owner.create_request("via socket")
    headers = {"Authorization": f"Bearer {relay.owner_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{relay.url}/api/v1/events", headers=headers) as ws:
            assert (await ws.receive_json())["type"] == "ready"
            await ws.send_json({"id": 1, "type": "cancel", "request_id": created.id})
            await ws.send_json({"id": 2, "type": "cancel", "request_id": created.id})
            await ws.send_str("{not json")
            frames = [await ws.receive_json() for _ in range(4)]
    results = {f.get("id"): f for f in frames if f["type"] == "result"}
    assert results[1]["ok"] is True and results[1]["result"]["cancel_reason"] == "dismissed"
    assert results[2]["error"]["code"] == "request_cancelled"
    assert results[None]["error"]["code"] == "malformed_json"
    assert any(f["type"] == "event" and f["event"]["type"] == "request.cancelled" for f in frames)


async def test_answering_over_the_websocket_is_refused_approvers_answer_over_rest(
        relay: LiveRelay, owner: RelayClient) -> None:
    created = await owner.create_request("answer me over REST")
    headers = {"Authorization": f"Bearer {relay.owner_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{relay.url}/api/v1/events", headers=headers) as ws:
            assert (await ws.receive_json())["type"] == "ready"
            await ws.send_json({"id": 1, "type": "answer", "request_id": created.id, "response": "ok"})
            result = await ws.receive_json()
    assert (result["id"], result["ok"], result["error"]["code"]) == (1, False, "invalid_request")
    assert result["error"]["details"][0]["loc"] == ["type"]
    assert (await owner.get_request(created.id)).status == "pending"


async def test_event_frame_carries_seq_once_and_the_client_puts_it_back(relay: LiveRelay, owner: RelayClient) -> None:
    headers = {"Authorization": f"Bearer {relay.owner_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{relay.url}/api/v1/events?since=0", headers=headers) as ws:
            ready = await ws.receive_json()
            created = await owner.create_request("count my seq")
            frame = await ws.receive_json()
    assert set(ready) == {"type", "last_seq"}
    assert set(frame) == {"type", "seq", "event"} and "seq" not in frame["event"]
    assert frame["event"]["request"]["id"] == created.id
    replay = await collect(owner.event_stream(since=frame["seq"] - 1), 1)
    assert (replay[0].seq, replay[0].request.id) == (frame["seq"], created.id)


async def test_event_stream_refuses_agents_and_anonymous_callers(relay: LiveRelay) -> None:
    agent = await relay.agent()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/api/v1/events", headers={"X-API-Key": agent.credential or ""}) as resp:
            assert resp.status == 403
        async with http.get(f"{relay.url}/api/v1/events") as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    await agent.close()


async def test_approvers_hanging_up_during_the_handshake_are_no_server_error(
        relay: LiveRelay, caplog: pytest.LogCaptureFixture) -> None:
    """A socket reset right after the upgrade request must not reach the error middleware (a 500)."""
    host, port = relay.url.removeprefix("http://").rsplit(":", 1)
    upgrade = (f"GET /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {relay.owner_token}\r\n\r\n").encode()
    for _ in range(30):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(upgrade)
        await writer.drain()
        writer.transport.abort()  # RST at once, as a killed approver would
        await asyncio.sleep(0)
    async with aiohttp.ClientSession() as http:  # the relay still serves approvers
        async with http.ws_connect(f"{relay.url}/api/v1/events",
                                   headers={"Authorization": f"Bearer {relay.owner_token}"}) as ws:
            assert (await ws.receive_json())["type"] == "ready"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
