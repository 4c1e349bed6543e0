"""An agent that leaves withdraws its question: a blocked REST caller that hangs up, or whose relay
crashed under it, has the grace period to come back by id; after it the request goes as
``agent_left`` and approvers see why."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair, seal_json
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.models import Event, HitlRequest
from relay.context import BROKER
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, live_relay, start_relay
from tests.relay.test_durability import free_port, spawn_relay

GRACE = 0.5


def never(_request: HitlRequest) -> str | None:
    """An approver that only watches."""
    return None


def event_of(approver: ScriptedApprover, event_type: str) -> Callable[[ScriptedApprover], bool]:
    """Approver predicate: an event of this type arrived."""
    return lambda a: any(e.type == event_type for e in a.events)


def only(approver: ScriptedApprover, event_type: str) -> Event:
    """The one event of this type the approver saw."""
    [found] = [e for e in approver.events if e.type == event_type]
    return found


@pytest.fixture
async def quick(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A relay whose grace period for callers that hung up is GRACE seconds."""
    async with live_relay(tmp_path, leave_grace=GRACE, hangup_poll=0.02) as live:
        yield live


Ask = Callable[[LiveRelay, RelayClient, RelayClient, aiohttp.ClientSession], Awaitable[None]]


async def _post_question(relay: LiveRelay, owner: RelayClient, agent: RelayClient,
                         http: aiohttp.ClientSession) -> None:
    await http.post(relay.url + "/api/v1/hitl/request", json={"prompt": "Still there?"})


async def _post_completion(relay: LiveRelay, owner: RelayClient, agent: RelayClient,
                           http: aiohttp.ClientSession) -> None:
    await http.post(relay.url + "/api/v1/hitl/complete", json={"summary": "Done; still there?"})


async def _long_poll(relay: LiveRelay, owner: RelayClient, agent: RelayClient,
                     http: aiohttp.ClientSession) -> None:
    created = await agent.create_request("Polled, then left")  # wait=false: nobody blocks yet
    await http.get(relay.url + f"/api/v1/hitl/requests/{created.id}", params={"wait": "60"})


async def _post_sealed(relay: LiveRelay, owner: RelayClient, agent: RelayClient,
                       http: aiohttp.ClientSession) -> None:
    await DeskEncryption.ensure(owner, relay.settings)
    keys = KeyPair.generate()
    await agent.register_key("agent", None, keys.public_key)
    box = keys.box(await agent.desk_public_key())
    await http.post(relay.url + "/api/v1/hitl/request/e2ee",
                    json={"encrypted_payload": seal_json(box, {"prompt": "sealed, still there?"})})


@pytest.mark.parametrize("ask", [_post_question, _post_completion, _long_poll, _post_sealed],
                         ids=["request", "complete", "wait", "e2ee"])
async def test_blocked_rest_caller_that_hangs_up_is_withdrawn_as_agent_left_after_the_grace(
        quick: LiveRelay, ask: Ask) -> None:
    agent = await quick.agent("leaver")
    assert agent.credential
    async with quick.owner() as owner, agent, ScriptedApprover(owner, never) as approver, \
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {agent.credential}"}) as http:
        call = asyncio.create_task(ask(quick, owner, agent, http))
        await approver.wait_for(event_of(approver, "request.created"))
        request_id = only(approver, "request.created").request.id
        async with asyncio.timeout(5):
            while quick.running.app[BROKER].pending_waiters == 0:
                await asyncio.sleep(0.01)  # polling until the caller is blocked on the answer
        call.cancel()  # the caller hangs up mid-wait
        await asyncio.gather(call, return_exceptions=True)
        assert (await owner.get_request(request_id)).status == "pending"  # not at once: it may come back
        await approver.wait_for(event_of(approver, "request.cancelled"))
    gone = only(approver, "request.cancelled").request
    assert (gone.id, gone.status, gone.cancel_reason, gone.answered_by) == (request_id, "cancelled", "agent_left", None)


async def test_caller_that_comes_back_by_id_within_the_grace_keeps_its_question(tmp_path: Path) -> None:
    grace = 1.0  # long enough that the returning client surely attaches within it on a loaded machine
    running = await start_relay(tmp_path / "home", leave_grace=grace, hangup_poll=0.02)
    relay = LiveRelay(running, tmp_path / "home")
    broker = running.app[BROKER]
    try:
        agent = await relay.agent("returner")
        assert agent.credential
        async with relay.owner() as owner, agent, ScriptedApprover(owner, never) as approver:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {agent.credential}"}) as http:
                call = asyncio.create_task(http.post(relay.url + "/api/v1/hitl/request", json={"prompt": "Back soon"}))
                await approver.wait_for(event_of(approver, "request.created"))
                request_id = only(approver, "request.created").request.id
                async with asyncio.timeout(5):
                    while broker.pending_waiters == 0:
                        await asyncio.sleep(0.01)  # polling until the caller is blocked on the answer
                call.cancel()
                await asyncio.gather(call, return_exceptions=True)
                async with asyncio.timeout(5):
                    while broker.pending_waiters:
                        await asyncio.sleep(0.01)  # polling until the relay noticed the hang-up
            resumed = asyncio.create_task(agent.wait_for_answer(request_id))  # the restarted client, by id
            async with asyncio.timeout(grace / 2):
                while not broker.pending_waiters:
                    await asyncio.sleep(0.01)  # polling until it is back, well within the grace
            await asyncio.sleep(grace * 1.5)  # let the grace period run out: nothing may happen to the request
            assert not event_of(approver, "request.cancelled")(approver)
            await owner.answer(request_id, "welcome back")
            async with asyncio.timeout(10):
                done = await resumed
    finally:
        await running.stop()
    assert (done.status, done.response, done.cancel_reason) == ("answered", "welcome back", None)


async def test_request_created_without_waiting_is_never_withdrawn_for_leaving(quick: LiveRelay) -> None:
    agent = await quick.agent("fire-and-poll")
    async with quick.owner() as owner, agent:
        created = await agent.create_request("I will poll now and then")
        await asyncio.sleep(GRACE * 3)  # let a grace period pass: a request nobody blocked on stays
        assert (await agent.get_request(created.id)).status == "pending"
        await owner.answer(created.id, "here you go")


@pytest.mark.slow
async def test_after_a_sigkill_requests_whose_caller_never_returns_are_withdrawn_and_the_others_kept(
        tmp_path: Path) -> None:
    home, port, grace = tmp_path / "home", free_port(), 2.0
    url = f"http://127.0.0.1:{port}"
    relay = await spawn_relay(home, port, "--leave-grace", str(grace))
    token = (home / "owner.token").read_text()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http_a, aiohttp.ClientSession(headers=headers) as http_b:
        calls = [asyncio.create_task(http.post(url + "/api/v1/hitl/request", json={"prompt": prompt}))
                 for http, prompt in ((http_a, "orphan"), (http_b, "returner"))]
        async with RelayClient(url, token) as owner:
            async with asyncio.timeout(10):
                while len(pending := await owner.list_requests("pending")) < 2:
                    await asyncio.sleep(0.01)  # polling until both blocking requests are stored
        ids = {r.prompt: r.id for r in pending}
        relay.send_signal(signal.SIGKILL)
        await relay.wait()
        await asyncio.gather(*calls, return_exceptions=True)  # both callers lose their connection
    relay = await spawn_relay(home, port, "--leave-grace", str(grace))
    try:
        async with RelayClient(url, token) as owner, RelayClient(url, token) as returner:
            resumed = asyncio.create_task(returner.wait_for_answer(ids["returner"]))
            async with ScriptedApprover(owner, never) as approver:
                async with asyncio.timeout(grace + 10):
                    while (await owner.get_request(ids["orphan"])).status == "pending":
                        await asyncio.sleep(0.05)  # polling for the grace period to run out
                orphan = await owner.get_request(ids["orphan"])
                assert (orphan.status, orphan.cancel_reason) == ("cancelled", "agent_left")
                await approver.wait_for(event_of(approver, "request.cancelled"))
                assert only(approver, "request.cancelled").request.id == ids["orphan"]
                assert (await owner.get_request(ids["returner"])).status == "pending"
                await owner.answer(ids["returner"], "still here")
            async with asyncio.timeout(10):
                done = await resumed
    finally:
        relay.send_signal(signal.SIGTERM)
        await relay.wait()
    assert (done.status, done.response) == ("answered", "still here")
