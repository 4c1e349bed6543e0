"""The approver core against the real relay: snapshot and replay merge across a relay restart,
the desk key is ensured once, answers and cancels reach the agent, unreadable requests are
never answered.  The TUI and the tray are views over this; their own tests check the words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from hitl_desk.approver import Approver, Snapshot, merge
from hitl_desk.client import RelayClient, StreamState
from hitl_desk.crypto import KeyPair
from hitl_desk.e2ee import AgentEncryption
from hitl_desk.errors import KeyMissingError, RequestClosedError
from hitl_desk.keystore import desk_key_path
from hitl_desk.models import Event, HitlRequest
from hitl_desk.settings import Settings
from tests.conftest import LiveRelay, start_relay
from tests.core.test_reading import desk_home, sealed

DEADLINE = 15.0


class RecordingView:
    """A view that keeps what the core handed it, as a UI would show it."""

    def __init__(self) -> None:
        self.pending: dict[str, HitlRequest] = {}
        self.events: list[Event] = []
        self.snapshots: list[Snapshot] = []
        self.states: list[StreamState] = []

    def on_state(self, state: StreamState) -> None:
        """Remember the connection state."""
        self.states.append(state)

    def on_event(self, event: Event) -> None:
        """Apply a live event by request id."""
        self.events.append(event)
        if event.type == "request.created" and event.request.kind != "notification":
            self.pending[event.request.id] = event.request
        elif event.type != "request.created":
            self.pending.pop(event.request.id, None)

    async def on_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the queue with the merged snapshot."""
        self.snapshots.append(snapshot)
        self.pending = {r.id: r for r in snapshot.pending}


async def until(condition: Callable[[], object], what: str) -> None:
    """Wait for ``condition`` under the deadline (the relay and the stream make progress)."""
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.01)  # polling under the deadline, never to wait blindly
    assert condition(), what


@asynccontextmanager
async def following(relay: LiveRelay, settings: Settings | None = None
                    ) -> AsyncIterator[tuple[Approver, RecordingView]]:
    """An approver holding the owner credential, following the relay until the block ends."""
    view = RecordingView()
    async with relay.owner() as client:
        approver = Approver(client, settings, retry_max=0.2)
        task = asyncio.create_task(approver.follow(view))
        try:
            async with asyncio.timeout(DEADLINE):
                await approver.synced.wait()
            yield approver, view
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def restart(relay: LiveRelay, approver: Approver) -> None:
    """Stop the relay, see the approver notice, start it again on the same home and port."""
    port = relay.running.port
    await relay.running.stop()
    await until(lambda: not approver.synced.is_set(), "the approver sees the relay gone")
    relay.running = await start_relay(relay.home, port)


def test_merge_adds_what_was_created_meanwhile_once_and_drops_what_closed() -> None:
    from tests.tui.snapshot_data import NOW, request
    kept, gone, new = (request(n, "cursor", f"q{n}", minutes_ago=n) for n in (1, 2, 3))
    replay = [Event(seq=7, type="request.created", at=NOW, request=new),
              Event(seq=8, type="request.created", at=NOW, request=kept),  # also in the snapshot
              Event(seq=9, type="request.answered", at=NOW,
                    request=gone.model_copy(update={"status": "answered"}))]
    assert [r.id for r in merge([kept, gone], replay)] == [kept.id, new.id]
    assert Snapshot([], replay, since=5).last_seq == 9 and Snapshot([], [], since=5).last_seq == 5


async def test_across_a_relay_restart_no_event_is_lost_or_doubled_and_the_queue_matches_the_relay(
    relay: LiveRelay,
) -> None:
    async with await relay.agent() as agent, following(relay) as (approver, view):
        first = await agent.create_request("Before?", choices=["Yes"])
        second = await agent.create_request("Also before?")
        await until(lambda: len(view.pending) == 2, "both requests seen live")
        await restart(relay, approver)
        async with relay.owner() as owner:
            await owner.answer(first.id, "Yes")  # while the approver may still be reconnecting
        third = await agent.create_request("After?")
        await until(lambda: approver.synced.is_set() and third.id in view.pending, "resynced")
        await until(lambda: first.id not in view.pending, "the answer seen")
        async with relay.owner() as owner:
            on_relay = {r.id for r in await owner.list_requests("pending")}
        assert set(view.pending) == on_relay == {second.id, third.id}
        seqs = [e.seq for e in view.events]
        assert seqs == sorted(set(seqs)), "an event was delivered twice or out of order"
        created = [e.request.id for e in view.events if e.type == "request.created"]
        assert sorted(created) == sorted({first.id, second.id, third.id})
        assert len(view.snapshots) == 2


async def test_the_desk_key_is_ensured_once_not_on_every_reconnect(relay: LiveRelay, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "desk-home", server_url=relay.url, server_url_set=True)
    async with following(relay, settings) as (approver, view):
        assert approver.desk_ensured and approver.reader.has_desk_key
        async with relay.owner() as owner:
            served = await owner.desk_public_key()
        # Ensuring again now would find no local key beside a served one and read nothing.
        desk_key_path(settings).unlink()
        await restart(relay, approver)
        await until(lambda: approver.synced.is_set(), "resynced")
        assert approver.reader.has_desk_key
        async with await relay.agent() as client:
            agent = AgentEncryption(client, Settings(home=tmp_path / "agent-home"), "test-agent")
            asking = asyncio.create_task(agent.ask("Sealed after the reconnect?"))
            await until(lambda: len(view.pending) == 1, "the sealed request arrived")
            [request] = view.pending.values()
            assert approver.view(request).request.prompt == "Sealed after the reconnect?"
            assert approver.view(request) is approver.view(request)  # opened once
            await approver.answer(request, "sealed yes")
            assert await asyncio.wait_for(asking, DEADLINE) == "sealed yes"
        async with relay.owner() as owner:
            assert await owner.desk_public_key() == served


async def test_answer_and_cancel_reach_the_agent_and_a_second_answer_is_refused(relay: LiveRelay) -> None:
    async with await relay.agent() as agent, following(relay) as (approver, view):
        asked = await agent.create_request("Deploy?", choices=["Yes", "No"])
        dropped = await agent.create_request("Never mind?")
        await until(lambda: len(view.pending) == 2, "both requests seen")
        await approver.answer(view.pending[asked.id], "Yes")
        await approver.cancel(dropped.id)
        assert (await agent.get_request(asked.id)).response == "Yes"
        assert (await agent.get_request(dropped.id)).status == "cancelled"
        await until(lambda: not view.pending and not approver.mine, "both closes seen, none left mine")
        with pytest.raises(RequestClosedError):
            await approver.answer(asked, "No")
        assert not approver.mine


async def test_the_core_reads_with_the_desk_key_in_its_home(tmp_path: Path) -> None:
    settings = desk_home(tmp_path / "desk")
    async with RelayClient("http://127.0.0.1:9", "unused") as nowhere:  # never called
        view = Approver(nowhere, settings).view(sealed(settings, KeyPair.generate()))
        assert view.readable and view.request.prompt == "Deploy?"
        assert not Approver(nowhere).reader.has_desk_key


async def test_an_unreadable_request_is_not_answered_and_nothing_is_sent(tmp_path: Path) -> None:
    request = sealed(desk_home(tmp_path / "desk"), KeyPair.generate())
    async with RelayClient("http://127.0.0.1:9", "unused") as nowhere:  # would fail if called
        approver = Approver(nowhere, Settings(home=tmp_path / "no-desk-key"))
        assert approver.view(request).problem == "no desk key on this approver"
        with pytest.raises(KeyMissingError, match="does not have the desk key"):
            await approver.answer(request, "Yes")
        assert not approver.mine
