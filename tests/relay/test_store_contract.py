"""The ``Store`` contract: every storage engine passes these tests (today: SQLite).

The tests speak only the ``relay.store.Store`` protocol; ``STORES`` names how to open each
implementation on a fresh database (and a second handle on the same one, as a second relay).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hitl_desk.action import ToolAction
from hitl_desk.audit import ChainCheck
from hitl_desk.errors import (
    AgentExistsError,
    ApiKeyNotFoundError,
    RequestExistsError,
    RuleNotFoundError,
    TooManyPendingError,
)
from hitl_desk.models import Agent, HitlRequest
from hitl_desk.rules import Rule
from relay.store import Store
from relay.store.sqlite import SqliteStore

Opener = Callable[[Path], Store]
STORES: dict[str, Opener] = {"sqlite": lambda where: SqliteStore(where / "store.db")}
NOW = 1_900_000_000.0


@pytest.fixture(params=sorted(STORES))
def opener(request: pytest.FixtureRequest) -> Opener:
    """How to open the implementation under test."""
    return STORES[request.param]


@pytest.fixture
async def store(opener: Opener, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, open store."""
    opened = opener(tmp_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def agent(store: Store) -> Agent:
    """An agent to ask for."""
    return await store.create_agent("agt_1", "asker", NOW, exist_ok=False)


def question(agent: Agent, n: int, *, timeout: float = 60.0, encrypted: bool = False,
             default: str | None = None) -> HitlRequest:
    """A pending question with the id ``req_<n>``."""
    return HitlRequest(id=f"req_{n}", kind="input", status="pending", agent_id=agent.id, agent_name=agent.name,
                       prompt="" if encrypted else f"question {n}", default_answer=default,
                       encrypted_payload="sealed" if encrypted else None,
                       created_at=datetime.fromtimestamp(NOW, UTC),
                       expires_at=datetime.fromtimestamp(NOW + timeout, UTC))


async def test_a_created_request_reads_back_with_its_created_event(store: Store, agent: Agent) -> None:
    event = await store.insert_request(question(agent, 1), NOW)
    assert (event.type, event.request.id, event.seq) == ("request.created", "req_1", await store.last_seq())
    assert await store.get_request("req_1") == question(agent, 1)
    assert await store.get_request("req_none") is None
    with pytest.raises(RequestExistsError):
        await store.insert_request(question(agent, 1), NOW)


async def test_a_request_closes_exactly_once_whatever_closes_it(store: Store, agent: Agent) -> None:
    for n in (1, 2, 3):
        await store.insert_request(question(agent, n, default="dflt"), NOW)
    answered = await store.close_request("req_1", "answered", "yes", "owner", NOW + 1, encrypted=False)
    expired = await store.close_request("req_2", "expired", "dflt", None, NOW + 2)
    cancelled = await store.close_request("req_3", "cancelled", None, "agent:asker", NOW + 3,
                                          cancel_reason="agent_cancelled")
    assert answered and expired and cancelled
    assert (answered[0].status, answered[0].response, answered[1].type) == ("answered", "yes", "request.answered")
    assert (expired[0].status, expired[0].response, expired[1].type) == ("expired", "dflt", "request.expired")
    assert (cancelled[0].cancel_reason, cancelled[1].type) == ("agent_cancelled", "request.cancelled")
    for n, status in ((1, "expired"), (2, "answered"), (3, "cancelled")):
        assert await store.close_request(f"req_{n}", status, None, None, NOW + 4) is None
    assert await store.close_request("req_none", "answered", "x", "owner", NOW) is None
    assert (await store.get_request("req_1")) == answered[0]


async def test_an_answer_must_match_the_requests_encryption(store: Store, agent: Agent) -> None:
    await store.insert_request(question(agent, 1, encrypted=True), NOW)
    assert await store.close_request("req_1", "answered", "plain", "owner", NOW, encrypted=False) is None
    done = await store.close_request("req_1", "answered", None, "owner", NOW, encrypted_response="sealed-answer",
                                     encrypted=True)
    assert done is not None and done[0].encrypted_response == "sealed-answer"


async def test_concurrent_closes_let_exactly_one_win(store: Store, agent: Agent) -> None:
    await store.insert_request(question(agent, 1), NOW)
    results = await asyncio.gather(*(store.close_request("req_1", "answered", f"a{i}", "owner", NOW)
                                     for i in range(10)))
    assert sum(r is not None for r in results) == 1
    assert [e.type for e in await store.events_since(0)] == ["request.created", "request.answered"]


async def test_the_pending_cap_counts_in_the_same_transaction(store: Store, agent: Agent) -> None:
    results = await asyncio.gather(*(store.insert_request(question(agent, n), NOW, max_pending=3)
                                     for n in range(6)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, TooManyPendingError)]
    assert len(refused) == 3 and refused[0].details == {"pending": 3, "max_pending": 3}
    assert await store.count_requests("pending") == 3


async def test_pages_neither_repeat_nor_skip_rows_that_change_between_pages(store: Store, agent: Agent) -> None:
    for n in range(7):
        await store.insert_request(question(agent, n), NOW)
    first, after = await store.page_requests(limit=3)
    await store.close_request("req_4", "answered", "x", "owner", NOW)
    second, after2 = await store.page_requests(limit=3, after=after)
    third, last = await store.page_requests(limit=3, after=after2)
    assert [r.id for r in first + second + third] == [f"req_{n}" for n in range(7)] and last is None
    newest, _ = await store.page_requests(limit=2, newest_first=True)
    assert [r.id for r in newest] == ["req_6", "req_5"]
    pending, _ = await store.page_requests("pending", agent_id=agent.id, kind="input", limit=10)
    assert "req_4" not in [r.id for r in pending] and len(pending) == 6


async def test_events_since_replays_in_order_from_any_point(store: Store, agent: Agent) -> None:
    assert (await store.last_seq(), await store.events_since(0)) == (0, [])
    for n in range(5):
        await store.insert_request(question(agent, n), NOW)
    events = await store.events_since(0)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5 and seqs[-1] == await store.last_seq()
    assert [e.request.id for e in await store.events_since(seqs[1], limit=2)] == ["req_2", "req_3"]


async def test_replayed_events_are_the_events_as_they_were_published(store: Store, agent: Agent) -> None:
    # Every life a request can have: the log must give back each event's request as it was then.
    published = [await store.insert_request(question(agent, n, default="dflt"), NOW) for n in range(4)]
    published.append(await store.insert_request(question(agent, 4, encrypted=True), NOW))
    published.append(await store.insert_request(question(agent, 5).model_copy(update={
        "kind": "notification", "status": "delivered", "expires_at": None}), NOW))
    published.append(await store.insert_request(question(agent, 6).model_copy(update={
        "status": "answered", "response": "Allow once", "answered_by": "rule:rule_000000000001",
        "closed_at": datetime.fromtimestamp(NOW, UTC)}), NOW))
    for closed in (await store.close_request("req_0", "answered", "yes", "owner", NOW + 1, encrypted=False),
                   await store.close_request("req_1", "expired", "dflt", None, NOW + 2),
                   await store.close_request("req_2", "cancelled", None, "owner", NOW + 3, cancel_reason="dismissed"),
                   await store.close_request("req_4", "answered", None, "owner", NOW + 4,
                                             encrypted_response="sealed-answer", encrypted=True)):
        assert closed is not None
        published.append(closed[1])
    replayed = await store.events_since(0)
    assert replayed == published  # req_3 is still pending: its one event, as created
    assert [e.request.status for e in replayed[:4]] == ["pending"] * 4
    assert [e.frame_json() for e in replayed] == [e.frame_json() for e in published]


async def test_agents_are_unique_by_name(store: Store, agent: Agent) -> None:
    with pytest.raises(AgentExistsError):
        await store.create_agent("agt_2", "asker", NOW, exist_ok=False)
    assert (await store.create_agent("agt_2", "asker", NOW, exist_ok=True)).id == agent.id
    await store.touch_agent(agent.id, NOW + 5)
    found = await store.agent_by_id(agent.id)
    assert found is not None and found.last_seen_at is not None
    assert await store.agent_by_name("asker") == found and await store.agent_by_name("nobody") is None
    assert [a.name for a in await store.list_agents()] == ["asker"]


async def test_api_keys_are_found_by_hash_and_revoked_once(store: Store, agent: Agent) -> None:
    await store.insert_api_key("mcp_pk_abc", "hash-1", agent.id, "laptop", NOW)
    info = await store.api_key_by_hash("hash-1")
    assert info is not None and (info.prefix, info.agent_name, info.label, info.revoked_at) == (
        "mcp_pk_abc", "asker", "laptop", None)
    await store.touch_api_key("mcp_pk_abc", NOW + 1)
    revoked = await store.revoke_api_key("mcp_pk_abc", NOW + 2)
    again = await store.revoke_api_key("mcp_pk_abc", NOW + 3)
    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    assert [k.prefix for k in await store.list_api_keys()] == ["mcp_pk_abc"]
    with pytest.raises(ApiKeyNotFoundError):
        await store.revoke_api_key("mcp_pk_none", NOW)


async def test_meta_and_public_keys_are_replaced_in_place(store: Store, agent: Agent) -> None:
    assert await store.get_meta("k") is None and await store.public_key("user", "desk") is None
    for value in ("one", "two"):
        await store.set_meta("k", value)
        await store.set_public_key("user", "desk", f"key-{value}", NOW)
    assert (await store.get_meta("k"), await store.public_key("user", "desk")) == ("two", "key-two")
    assert await store.probe_storage() and not store.storage_full


async def test_timers_nobody_owns_are_claimed_once_with_their_attended_flag(store: Store, agent: Agent) -> None:
    await store.insert_request(question(agent, 1), NOW)
    await store.insert_request(question(agent, 2), NOW, attended=True)
    await store.mark_attended("req_1")
    await store.renew_lease("rly_a", NOW + 10)
    claimed = await store.claim_timers("rly_a", NOW)
    assert sorted((c.request.id, c.attended) for c in claimed) == [("req_1", True), ("req_2", True)]
    await store.renew_lease("rly_b", NOW + 5)
    assert await store.live_leases(NOW) == ["rly_a", "rly_b"] and await store.live_leases(NOW + 6) == ["rly_a"]
    assert await store.claim_timers("rly_b", NOW) == []  # rly_a's lease is live
    assert await store.claim_timers("rly_a", NOW) == []  # nor is a claim repeated


async def test_timers_of_a_lapsed_or_released_lease_pass_to_another_relay(store: Store, agent: Agent) -> None:
    await store.renew_lease("rly_a", NOW + 10)
    await store.insert_request(question(agent, 1), NOW, timer_owner="rly_a")
    await store.insert_request(question(agent, 2), NOW, timer_owner="rly_a")
    await store.close_request("req_2", "answered", "x", "owner", NOW)
    assert await store.claim_timers("rly_b", NOW + 5) == []
    assert [c.request.id for c in await store.claim_timers("rly_b", NOW + 11)] == ["req_1"]  # lapsed; closed ones stay
    await store.insert_request(question(agent, 3), NOW, timer_owner="rly_b")
    await store.renew_lease("rly_b", NOW + 100)
    await store.release_timers("rly_b")
    assert sorted(c.request.id for c in await store.claim_timers("rly_c", NOW + 12)) == ["req_1", "req_3"]


async def test_two_handles_on_one_store_never_claim_the_same_timer(opener: Opener, store: Store,
                                                                  agent: Agent, tmp_path: Path) -> None:
    for n in range(50):
        await store.insert_request(question(agent, n), NOW)
    other = opener(tmp_path)
    await other.open()
    try:
        await store.renew_lease("rly_a", NOW + 10)
        await other.renew_lease("rly_b", NOW + 10)
        mine, theirs = await asyncio.gather(store.claim_timers("rly_a", NOW), other.claim_timers("rly_b", NOW))
    finally:
        await other.close()
    ids = [c.request.id for c in mine] + [c.request.id for c in theirs]
    assert sorted(ids) == sorted(f"req_{n}" for n in range(50))


async def test_a_device_is_kept_listed_touched_and_revoked_idempotently(store: Store) -> None:
    from relay.store.devices import DeviceRow

    row = DeviceRow("dev_1", "phone", "v" * 44, "b" * 44, NOW, None, None)
    await store.insert_device(row)
    await store.insert_device(row._replace(id="dev_2", created_at=NOW + 1))
    assert [d.id for d in await store.list_devices()] == ["dev_2", "dev_1"]
    await store.touch_device("dev_1", NOW + 5)
    revoked = await store.revoke_device("dev_1", NOW + 10)
    again = await store.revoke_device("dev_1", NOW + 20)
    assert revoked == again == row._replace(last_seen_at=NOW + 5, revoked_at=NOW + 10)
    assert await store.revoke_device("dev_unknown", NOW) is None
    assert await store.device_by_id("dev_unknown") is None


# -- always-allow rules and the audit chain (issue 11) ------------------------------------------

def rule(agent: Agent, n: int, *, tool: str = "Bash", pattern: str = "make") -> Rule:
    """An exact rule with the id ``rule_<n as 12 hex digits>``."""
    return Rule(id=f"rule_{n:012x}", agent_id=agent.id, agent_name=agent.name, tool=tool, kind="exact",
                pattern=pattern, created_at=datetime.fromtimestamp(NOW + n, UTC), created_by="owner")


async def test_rules_are_listed_by_agent_and_tool_and_revoked_once(store: Store, agent: Agent) -> None:
    other = await store.create_agent("agt_2", "other", NOW, exist_ok=False)
    for made in (rule(agent, 1), rule(agent, 2, tool="Edit"), rule(other, 3), rule(agent, 4, pattern="ls")):
        await store.add_rule(made)
    assert [r.id for r in await store.rules_for(agent.id, "Bash")] == [rule(agent, 1).id, rule(agent, 4).id]
    assert [r.id for r in await store.list_rules()] == [rule(agent, n).id for n in (4, 3, 2, 1)]
    revoked = await store.revoke_rule(rule(agent, 1).id, NOW + 9, "owner")
    again = await store.revoke_rule(rule(agent, 1).id, NOW + 10, "owner")
    audited = [(e.event, e.rule_id, e.answered_by) for e in await store.audit_page(0, 10)]
    assert audited == [*(("rule_added", rule(a, n).id, "owner") for a, n in ((agent, 1), (agent, 2), (other, 3),
                                                                            (agent, 4))),
                       ("rule_revoked", rule(agent, 1).id, "owner")]
    assert revoked.revoked_at == again.revoked_at == datetime.fromtimestamp(NOW + 9, UTC)
    assert [r.id for r in await store.rules_for(agent.id, "Bash")] == [rule(agent, 4).id]
    assert len(await store.list_rules()) == 3 and len(await store.list_rules(include_revoked=True)) == 4
    with pytest.raises(RuleNotFoundError):
        await store.revoke_rule("rule_none", NOW)


async def test_a_request_answered_as_it_arrives_gets_its_closing_event(store: Store, agent: Agent) -> None:
    ruled = question(agent, 1).model_copy(update={
        "status": "answered", "response": "Allow once", "answered_by": "rule:rule_000000000001",
        "closed_at": datetime.fromtimestamp(NOW, UTC), "action": ToolAction(tool="Bash", argument="make")})
    event = await store.insert_request(ruled, NOW, max_pending=0)  # the cap counts pending requests only
    assert (event.type, event.request.status) == ("request.answered", "answered")
    assert await store.get_request("req_1") == ruled
    audit = await store.audit_page(0, 10)
    assert [(e.event, e.rule_id, e.response) for e in audit] == [
        ("created", None, None), ("answered", "rule_000000000001", "Allow once")]


async def test_a_rule_made_by_an_answer_is_kept_only_if_the_answer_wins(store: Store, agent: Agent) -> None:
    await store.insert_request(question(agent, 1), NOW)
    first = await store.close_request("req_1", "answered", "Always allow", "owner", NOW, new_rule=rule(agent, 1))
    late = await store.close_request("req_1", "answered", "Always allow", "owner", NOW, new_rule=rule(agent, 2))
    assert first is not None and late is None
    assert [r.id for r in await store.list_rules()] == [rule(agent, 1).id]
    assert [(e.event, e.rule_id) for e in await store.audit_page(0, 10)] == [
        ("created", None), ("answered", None), ("rule_added", rule(agent, 1).id)]


async def test_every_creation_and_closing_extends_one_audit_chain(opener: Opener, store: Store, agent: Agent,
                                                                   tmp_path: Path) -> None:
    other = opener(tmp_path)  # a second relay on the same store extends the same chain
    await other.open()
    try:
        await asyncio.gather(*(s.insert_request(question(agent, n), NOW) for n, s in enumerate([store, other] * 10)))
        await asyncio.gather(*(s.close_request(f"req_{n}", "answered", "yes", "owner", NOW + 1, via="tui")
                               for n, s in enumerate([other, store] * 10)))
    finally:
        await other.close()
    entries = await store.audit_page(0, 100)
    check = ChainCheck()
    assert [check.feed(e) for e in entries] == [None] * 40
    assert [e.seq for e in await store.audit_page(35, 100)] == [36, 37, 38, 39, 40]
    answers = [e for e in entries if e.event == "answered"]
    assert len(answers) == 20 and {(e.answered_by, e.via, e.response) for e in answers} == {("owner", "tui", "yes")}


async def test_a_sealed_requests_audit_entries_hold_no_content(store: Store, agent: Agent) -> None:
    await store.insert_request(question(agent, 1, encrypted=True), NOW)
    await store.close_request("req_1", "answered", None, "owner", NOW, encrypted_response="sealed-answer",
                              encrypted=True)
    entries = await store.audit_page(0, 10)
    assert [(e.event, e.sealed, e.response) for e in entries] == [("created", True, None), ("answered", True, None)]
    assert "sealed" not in "".join(e.model_dump_json(exclude={"sealed"}) for e in entries)
