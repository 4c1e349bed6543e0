"""Nothing accepted is lost: pending requests survive a SIGKILL and every waiter gets its answer."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.conftest import start_relay
from tests.relay.startup_support import free_port
from tests.relay.startup_support import spawn_relay as spawn_startup_relay

WAITERS = 100


async def spawn_relay(home: Path, port: int, *options: str) -> asyncio.subprocess.Process:
    """A relay these tests SIGKILL: its stderr goes nowhere (a pipe nobody reads could fill)."""
    return await spawn_startup_relay(home, port, *options, keep_stderr=False)


@pytest.mark.slow  # 3.5 s: two relay processes
async def test_pending_requests_survive_sigkill_and_every_waiter_gets_its_own_answer(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    relay = await spawn_relay(home, port)
    token = (home / "owner.token").read_text()
    async with RelayClient(url, token) as agent:
        created = [await agent.create_request(f"question {i}") for i in range(WAITERS)]
        waiters = [asyncio.create_task(agent.wait_for_answer(r.id)) for r in created]
        async with RelayClient(url, token) as owner:
            async with asyncio.timeout(10):
                while agent.session.connector is None or len(await owner.list_requests("pending")) < WAITERS:
                    await asyncio.sleep(0.01)  # polling until every request is stored
        relay.send_signal(signal.SIGKILL)
        await relay.wait()
        relay = await spawn_relay(home, port)
        try:
            async with RelayClient(url, token) as owner:
                async with ScriptedApprover(owner, lambda r: None):
                    pending = await owner.list_requests("pending")
                    assert sorted(r.id for r in pending) == sorted(r.id for r in created)
                    await asyncio.gather(*(owner.answer(r.id, f"answer to {r.prompt}") for r in pending))
            async with asyncio.timeout(30):
                results: list[HitlRequest] = await asyncio.gather(*waiters)
        finally:
            relay.send_signal(signal.SIGTERM)
            await relay.wait()
    assert len(results) == WAITERS
    for request, result in zip(created, results, strict=True):
        assert (result.id, result.status, result.response) == (request.id, "answered", f"answer to {request.prompt}")


async def test_expiry_is_rearmed_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = await start_relay(home, max_timeout=0.5)
    token = (home / "owner.token").read_text()
    async with RelayClient(first.url, token) as client:
        created = await client.create_request("will expire while down")
    await first.stop()
    second = await start_relay(home, max_timeout=0.5)
    try:
        async with RelayClient(second.url, token) as client:
            async with asyncio.timeout(5):
                done = await client.wait_for_answer(created.id)
    finally:
        await second.stop()
    assert done.status == "expired"
