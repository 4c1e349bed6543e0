"""The request lifecycle through the live relay: ask, answer, expire, cancel, notify."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from hitl_desk.errors import AlreadyAnsweredError, RequestCancelledError, RequestExpiredError
from hitl_desk.sdk import HITL, HITLSync
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay


def pick_second_choice(request: object) -> str:
    choices = getattr(request, "choices", [])
    return choices[1] if choices else "free text"


def cli_env(relay: LiveRelay, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(relay.home), HITL_SERVER_URL=relay.url, **extra)
    return env


async def run_cli(relay: LiveRelay, *args: str, **extra: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", *args, env=cli_env(relay, **extra),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_request_with_two_choices_prints_the_chosen_answer(relay: LiveRelay, owner: RelayClient) -> None:
    async with ScriptedApprover(owner, pick_second_choice):
        code, out, err = await run_cli(relay, "request", "--prompt", "Ship it?", "--choice", "yes", "--choice", "no")
    assert (code, out) == (0, "no\n"), err


async def test_sdk_request_input_returns_the_answer(relay: LiveRelay, owner: RelayClient) -> None:
    async with ScriptedApprover(owner, pick_second_choice):
        async with HITL(relay.url, relay.owner_token, agent_name="sdk-agent") as hitl:
            assert await hitl.request_input("Pick", choices=["a", "b"]) == "b"
            assert await hitl.notify_completion("Done: tests pass") == "free text"
            assert await hitl.notify("FYI") == "Notification sent"
    kinds = [r.kind for r in await owner.list_requests()]
    assert kinds == ["input", "completion", "notification"]


async def test_sync_sdk_works_from_plain_code(relay: LiveRelay, owner: RelayClient) -> None:
    hitl = HITLSync(relay.url, relay.owner_token)
    async with ScriptedApprover(owner, pick_second_choice):
        answer = await asyncio.to_thread(hitl.request_input, "Pick", ["x", "y"])
    assert answer == "y"


async def test_raw_rest_blocking_request_returns_the_answer(relay: LiveRelay, owner: RelayClient) -> None:
    agent = await relay.agent("rest-agent")
    async with ScriptedApprover(owner, pick_second_choice):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{relay.url}/api/v1/hitl/request",
                                 headers={"X-API-Key": agent.credential or ""},
                                 json={"prompt": "Merge?", "choices": ["merge", "wait"]}) as resp:
                body = await resp.json()
    await agent.close()
    assert resp.status == 200
    assert (body["status"], body["response"], body["agent_name"]) == ("answered", "wait", "rest-agent")


async def test_wait_false_returns_the_pending_request_at_once(relay: LiveRelay, owner: RelayClient) -> None:
    created = await owner.create_request("Later?")
    assert created.status == "pending" and created.expires_at is not None
    assert (await owner.get_request(created.id)).status == "pending"


async def test_second_answer_gets_409_already_answered_and_both_approvers_see_it(
        relay: LiveRelay, owner: RelayClient) -> None:
    created = await owner.create_request("Race?")
    async with relay.owner() as a, relay.owner() as b, \
            ScriptedApprover(a, lambda r: None) as watch_a, ScriptedApprover(b, lambda r: None) as watch_b:
        results = await asyncio.gather(a.answer(created.id, "A"), b.answer(created.id, "B"),
                                       return_exceptions=True)
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1 and len(losers) == 1
        assert isinstance(losers[0], AlreadyAnsweredError)
        for watch in (watch_a, watch_b):
            await watch.wait_for(lambda w: any(e.type == "request.answered" for e in w.events))
    final = await owner.get_request(created.id)
    assert final.response == winners[0].response


async def test_expired_request_returns_its_default_answer(relay: LiveRelay, owner: RelayClient) -> None:
    async with ScriptedApprover(owner, lambda r: None) as watch:
        done = await owner.ask("Quick?", timeout_seconds=0.2, default_answer="no reply")
        await watch.wait_for(lambda w: any(e.type == "request.expired" for e in w.events))
    assert (done.status, done.response) == ("expired", "no reply")


async def test_expired_request_without_default_raises_request_expired(relay: LiveRelay) -> None:
    async with HITL(relay.url, relay.owner_token) as hitl:
        with pytest.raises(RequestExpiredError):
            await hitl.request_input("Quick?", timeout=0.2)


async def test_cli_request_that_expires_to_its_default_answer_succeeds_with_and_without_json(
        relay: LiveRelay) -> None:
    code, out, err = await run_cli(relay, "request", "--prompt", "Soon?", "--timeout", "0.2",
                                   "--default-answer", "no reply")
    assert (code, out) == (0, "no reply\n"), err
    code, out, err = await run_cli(relay, "request", "--prompt", "Soon?", "--timeout", "0.2",
                                   "--default-answer", "no reply", "--json")
    assert code == 0, err  # the same outcome as without --json: the default answer is an answer
    assert (json.loads(out)["status"], json.loads(out)["response"]) == ("expired", "no reply")
    code, out, err = await run_cli(relay, "request", "--prompt", "Soon?", "--timeout", "0.2", "--json")
    assert code == 3 and json.loads(out)["status"] == "expired", err


async def test_cli_exits_3_on_expiry_and_4_on_cancel(relay: LiveRelay, owner: RelayClient) -> None:
    code, _, err = await run_cli(relay, "request", "--prompt", "Soon?", "--timeout", "0.2")
    assert code == 3, err

    async def cancel_when_seen() -> None:
        async with ScriptedApprover(owner, lambda r: None) as watch:
            await watch.wait_for(lambda w: bool(w.events))
            await owner.cancel(watch.events[0].request.id)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(cancel_when_seen())
        cli = tg.create_task(run_cli(relay, "request", "--prompt", "Cancel me"))
    assert cli.result()[0] == 4


async def test_answering_an_expired_request_is_409_request_expired(relay: LiveRelay, owner: RelayClient) -> None:
    done = await owner.ask("Gone?", timeout_seconds=0.1)
    with pytest.raises(RequestExpiredError):
        await owner.answer(done.id, "late")
    cancelled = await owner.create_request("Drop")
    await owner.cancel(cancelled.id)
    with pytest.raises(RequestCancelledError):
        await owner.answer(cancelled.id, "late")


async def test_agent_sees_only_its_own_requests_and_cannot_answer(relay: LiveRelay, owner: RelayClient) -> None:
    mine = await relay.agent("mine")
    other = await relay.agent("other")
    created = await mine.create_request("Mine")
    await other.create_request("Theirs")
    assert [r.id for r in await mine.list_requests()] == [created.id]
    from hitl_desk.errors import PermissionDeniedError, RequestNotFoundError

    with pytest.raises(RequestNotFoundError):
        await other.get_request(created.id)
    with pytest.raises(PermissionDeniedError):
        await mine.answer(created.id, "self-approve")
    await mine.close()
    await other.close()


async def test_cli_notify_and_pending_and_answer_commands(relay: LiveRelay, owner: RelayClient) -> None:
    code, out, _ = await run_cli(relay, "notify", "--message", "Build finished")
    assert code == 0 and out.startswith("req_")
    created = await owner.create_request("Which?", choices=["left", "right"])
    code, out, _ = await run_cli(relay, "pending")
    assert created.id in out and "left | right" in out
    code, _, _ = await run_cli(relay, "answer", created.id, "right")
    assert code == 0
    assert (await owner.get_request(created.id)).response == "right"


async def test_a_hundred_concurrent_blocking_requests_each_get_their_own_answer(
        relay: LiveRelay, owner: RelayClient) -> None:
    agent = await relay.agent("busy-agent")
    async with ScriptedApprover(owner, lambda r: "re: " + r.prompt):
        async with aiohttp.ClientSession(headers={"X-API-Key": agent.credential or ""}) as http:
            async def ask(i: int) -> dict[str, str]:
                async with http.post(f"{relay.url}/api/v1/hitl/request", json={"prompt": f"q{i}"}) as resp:
                    assert resp.status == 200, await resp.text()
                    body: dict[str, str] = await resp.json()
                    return body

            bodies = await asyncio.gather(*(ask(i) for i in range(100)))
    await agent.close()
    assert [b["response"] for b in bodies] == [f"re: q{i}" for i in range(100)]
