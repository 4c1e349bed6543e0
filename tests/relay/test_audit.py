"""The audit chain through the live relay: every decision recorded, who answered and from where,
sealed content never in clear, and ``hitl-desk audit verify`` catching a changed or removed row."""

from __future__ import annotations

import base64
import json
import os
import sqlite3

import pytest

from hitl_desk.action import ALLOW_ONCE, ALWAYS_ALLOW, ToolAction
from hitl_desk.audit import GENESIS, ChainCheck, entry_hash
from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.relay.test_requests import run_cli

SEALED = base64.b64encode(b"sealed-question-bytes-" * 4).decode()
SEALED_ANSWER = base64.b64encode(b"sealed-answer-bytes-" * 4).decode()


async def decisions(relay: LiveRelay, owner: RelayClient) -> None:
    """A little of everything: answered (from the TUI, by a rule), cancelled, expired, a notification."""
    async with await relay.agent("coder") as agent, RelayClient(relay.url, relay.owner_token, via="tui") as tui:
        bash = ToolAction(tool="Bash", argument="make test", cwd="/work")
        first = await agent.create_request("Allow?", action=bash)
        await tui.answer(first.id, ALWAYS_ALLOW)
        await agent.create_request("Allow again?", action=bash)  # answered by the rule just made
        await agent.withdraw((await agent.create_request("Never mind")).id)
        await agent.notify("FYI")
        expiring = await agent.create_request("Quick?", timeout_seconds=0.1, default_answer="later")
    await until(lambda: _expired(owner, expiring.id), "the short request to expire")


async def _expired(owner: RelayClient, request_id: str) -> bool:
    return (await owner.get_request(request_id)).status == "expired"


async def test_every_decision_is_chained_with_who_answered_and_how(relay: LiveRelay, owner: RelayClient) -> None:
    await decisions(relay, owner)
    entries = (await owner.audit_page()).entries
    assert [(e.event, e.kind) for e in entries] == [
        ("created", "input"), ("answered", "input"), ("rule_added", None), ("created", "input"),
        ("answered", "input"), ("created", "input"), ("cancelled", "input"), ("delivered", "notification"),
        ("created", "input"), ("expired", "input")]
    tui_answer, added, rule_answer, cancelled, expired = (entries[n] for n in (1, 2, 4, 6, 9))
    assert (tui_answer.answered_by, tui_answer.via, tui_answer.response) == ("owner", "tui", ALWAYS_ALLOW)
    assert tui_answer.action == {"tool": "Bash", "argument": "make test", "cwd": "/work"}
    [rule] = await owner.list_rules()
    assert (added.rule_id, added.request_id, added.answered_by, added.action) == (
        rule.id, tui_answer.request_id, "owner", {"tool": "Bash", "kind": "exact", "pattern": "make test"})
    assert (rule_answer.answered_by, rule_answer.rule_id, rule_answer.response) == (
        f"rule:{rule.id}", rule.id, ALLOW_ONCE)
    assert (cancelled.answered_by, cancelled.cancel_reason) == ("agent:coder", "agent_cancelled")
    assert (expired.answered_by, expired.response) == (None, "later")
    assert all(e.agent_name == "coder" for e in entries)
    check = ChainCheck()
    assert [check.feed(e) for e in entries] == [None] * len(entries)
    assert entries[0].prev_hash == GENESIS and entries[-1].hash == entry_hash(entries[-1].content())


async def test_a_sealed_request_is_recorded_without_its_content(relay: LiveRelay, owner: RelayClient) -> None:
    await owner.register_key("user", None, base64.b64encode(os.urandom(32)).decode())
    async with await relay.agent("sealer") as agent:
        await agent.register_key("agent", None, base64.b64encode(os.urandom(32)).decode())
        asked = await agent.create_encrypted("input", SEALED)
    await owner.answer_encrypted(asked.id, SEALED_ANSWER)
    entries = (await owner.audit_page()).entries
    assert [(e.event, e.sealed, e.response) for e in entries] == [("created", True, None), ("answered", True, None)]
    exported = json.dumps([e.model_dump(mode="json") for e in entries])
    assert SEALED not in exported and SEALED_ANSWER not in exported


@pytest.mark.slow  # two CLI processes
async def test_audit_verify_passes_an_intact_chain_and_export_prints_it(relay: LiveRelay,
                                                                         owner: RelayClient) -> None:
    await decisions(relay, owner)
    code, out, err = await run_cli(relay, "audit", "verify")
    head = (await owner.audit_page()).entries[-1].hash
    assert (code, out) == (0, f"10 entries, head {head}\n"), err
    code, out, err = await run_cli(relay, "audit", "export", "--jsonl")
    assert code == 0, err
    assert [json.loads(line)["seq"] for line in out.splitlines()] == list(range(1, 11))


def tamper(relay: LiveRelay, sql: str) -> None:
    """Change the live relay's database behind its back, as someone holding the file could."""
    db = sqlite3.connect(relay.home / "relay.db", isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("DROP TRIGGER IF EXISTS audit_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        db.execute(sql)
    finally:
        db.close()


async def test_audit_verify_catches_an_edited_row(relay: LiveRelay, owner: RelayClient) -> None:
    await decisions(relay, owner)
    tamper(relay, "UPDATE audit SET response = 'Deny' WHERE seq = 2")
    code, out, err = await run_cli(relay, "audit", "verify")
    assert (code, out) == (1, "")
    assert "broken at entry 2: entry 2 was changed after it was written" in err


async def test_audit_verify_catches_an_edited_row_whose_hash_was_redone(relay: LiveRelay,
                                                                        owner: RelayClient) -> None:
    await decisions(relay, owner)
    forged = (await owner.audit_page()).entries[3].model_copy(update={"answered_by": "owner"})
    tamper(relay, f"UPDATE audit SET answered_by = 'owner', hash = '{entry_hash(forged.content())}' WHERE seq = 4")
    code, _, err = await run_cli(relay, "audit", "verify")
    assert code == 1 and "broken at entry 5: entry 5 does not follow entry 4" in err


async def test_audit_verify_catches_a_deleted_row(relay: LiveRelay, owner: RelayClient) -> None:
    await decisions(relay, owner)
    tamper(relay, "DELETE FROM audit WHERE seq = 6")
    code, out, err = await run_cli(relay, "audit", "verify")
    assert (code, out) == (1, "")
    assert "broken at entry 6: entry 6 is missing (the next one is 7); 5 entries before it hold" in err


async def test_the_audit_table_refuses_changes_through_sql(relay: LiveRelay, owner: RelayClient) -> None:
    await decisions(relay, owner)
    db = sqlite3.connect(relay.home / "relay.db", isolation_level=None)
    try:
        for sql in ("UPDATE audit SET response = 'Deny'", "DELETE FROM audit"):
            try:
                db.execute(sql)
            except sqlite3.IntegrityError as exc:
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{sql} went through")
    finally:
        db.close()


async def test_rules_added_and_revoked_by_the_owner_are_recorded_once(relay: LiveRelay, owner: RelayClient) -> None:
    rule = await owner.add_rule("coder", "Bash", "prefix", "git log")
    await owner.revoke_rule(rule.id)
    await owner.revoke_rule(rule.id)  # already revoked: nothing happens, nothing is recorded
    entries = (await owner.audit_page()).entries
    assert [(e.event, e.rule_id, e.answered_by, e.request_id, e.kind) for e in entries] == [
        ("rule_added", rule.id, "owner", None, None), ("rule_revoked", rule.id, "owner", None, None)]
    assert entries[0].action == {"tool": "Bash", "kind": "prefix", "pattern": "git log"}
