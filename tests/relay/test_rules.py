"""Always-allow rules through the live relay: made by "Always allow" or by the owner, matched
exactly (agent, tool, argument), answering at once while still recorded, revoked at once."""

from __future__ import annotations

import json

import aiohttp
import pytest

from hitl_desk.action import ALLOW_ONCE, ALWAYS_ALLOW, APPROVAL_CHOICES, DENY, ToolAction
from hitl_desk.client import RelayClient
from hitl_desk.errors import InvalidRequestError, PermissionDeniedError, RuleNotFoundError
from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.relay.test_requests import run_cli


async def approval(agent: RelayClient, command: str, *, tool: str = "Bash", cwd: str | None = "/work/project",
                   timeout: float | None = None) -> HitlRequest:
    """What a permission hook sends: an approval of one tool call."""
    return await agent.create_request(f"Allow {tool}?", choices=list(APPROVAL_CHOICES), timeout_seconds=timeout,
                                      action=ToolAction(tool=tool, argument=command, cwd=cwd, client="claude-code"))


async def test_an_approval_keeps_its_tool_action(relay: LiveRelay, owner: RelayClient) -> None:
    async with await relay.agent("coder") as agent:
        asked = await approval(agent, "pytest -q")
    stored = await owner.get_request(asked.id)
    assert stored.status == "pending"
    assert stored.action == ToolAction(tool="Bash", argument="pytest -q", cwd="/work/project", client="claude-code")


async def test_always_allow_answers_the_same_call_at_once_and_nothing_else(relay: LiveRelay,
                                                                            owner: RelayClient) -> None:
    async with await relay.agent("coder") as agent, await relay.agent("other") as other:
        first = await approval(agent, "git status")
        answered = await owner.answer(first.id, ALWAYS_ALLOW)
        assert (answered.status, answered.response) == ("answered", ALWAYS_ALLOW)
        [rule] = await owner.list_rules()
        assert (rule.agent_name, rule.tool, rule.kind, rule.pattern, rule.source_request) == (
            "coder", "Bash", "exact", "git status", first.id)

        again = await approval(agent, "git status")
        assert (again.status, again.response, again.answered_by) == ("answered", ALLOW_ONCE, f"rule:{rule.id}")
        assert (await owner.get_request(again.id)).status == "answered"  # recorded, not only answered
        longer = await approval(agent, "git status; rm -rf ~")
        other_tool = await approval(agent, "git status", tool="Shell")
        other_agent = await approval(other, "git status")
    assert [r.status for r in (longer, other_tool, other_agent)] == ["pending"] * 3
    assert {r.id for r in await owner.list_requests("pending")} == {longer.id, other_tool.id, other_agent.id}


async def test_a_rule_answer_is_one_answered_event_and_never_pending(relay: LiveRelay, owner: RelayClient) -> None:
    await owner.add_rule("coder", "Bash", "prefix", "ls")
    async with ScriptedApprover(owner, lambda request: None) as approver, await relay.agent("coder") as agent:
        allowed = await approval(agent, "ls -la")
        await approver.wait_for(lambda a: any(e.request.id == allowed.id for e in a.events))
    assert [(e.type, e.request.status) for e in approver.events if e.request.id == allowed.id] == [
        ("request.answered", "answered")]
    assert (await owner.health()).pending == 0
    async with aiohttp.ClientSession() as http, http.get(f"{relay.url}/metrics") as resp:
        assert "hitl_requests_pending 0.0" in await resp.text()


async def test_an_owner_prefix_rule_allows_the_command_but_no_injection(relay: LiveRelay,
                                                                        owner: RelayClient) -> None:
    await owner.add_rule("coder", "Bash", "prefix", "git status")
    async with await relay.agent("coder") as agent:
        allowed = [await approval(agent, c) for c in ("git status", "git status --short")]
        refused = [await approval(agent, c) for c in ("git status; rm -rf ~", "git status && rm -rf ~",
                                                       "git status | sh", "git status $(rm -rf ~)",
                                                       "git status `rm -rf ~`", "git status\nrm -rf ~")]
    assert [r.status for r in allowed] == ["answered"] * 2
    assert [r.status for r in refused] == ["pending"] * 6


async def test_a_path_rule_allows_inside_the_directory_only(relay: LiveRelay, owner: RelayClient) -> None:
    rule = await owner.add_rule("coder", "Edit", "path", "/work/project/./")
    assert rule.pattern == "/work/project"
    async with await relay.agent("coder") as agent:
        inside = await approval(agent, "src/app.py", tool="Edit")
        escape = await approval(agent, "../../home/me/.bashrc", tool="Edit")
        dotdot = await approval(agent, "/work/project/../secrets.env", tool="Edit")
    assert (inside.status, escape.status, dotdot.status) == ("answered", "pending", "pending")


async def test_a_revoked_rule_stops_at_once(relay: LiveRelay, owner: RelayClient) -> None:
    rule = await owner.add_rule("coder", "Bash", "exact", "make test")
    revoked = await owner.revoke_rule(rule.id)
    assert revoked.revoked_at is not None
    assert await owner.list_rules() == []
    assert [r.id for r in await owner.list_rules(include_revoked=True)] == [rule.id]
    async with await relay.agent("coder") as agent:
        assert (await approval(agent, "make test")).status == "pending"
    with pytest.raises(RuleNotFoundError):
        await owner.revoke_rule("rule_000000000000")


async def test_a_rule_matched_request_never_expires(relay: LiveRelay, owner: RelayClient) -> None:
    await owner.add_rule("coder", "Bash", "exact", "make")
    async with await relay.agent("coder") as agent:
        allowed = await approval(agent, "make", timeout=0.2)
        asked = await approval(agent, "make install", timeout=0.2)
    await until(lambda: _status(owner, asked.id, "expired"), "the unmatched request to expire")
    after = await owner.get_request(allowed.id)
    assert (after.status, after.response) == ("answered", ALLOW_ONCE)
    events = [e.event for e in (await owner.audit_page()).entries if e.request_id == allowed.id]
    assert events == ["created", "answered"]


async def _status(owner: RelayClient, request_id: str, status: str) -> bool:
    return (await owner.get_request(request_id)).status == status


async def test_deny_and_allow_once_make_no_rule(relay: LiveRelay, owner: RelayClient) -> None:
    async with await relay.agent("coder") as agent:
        for answer in (DENY, ALLOW_ONCE):
            await owner.answer((await approval(agent, "rm build")).id, answer)
        assert (await approval(agent, "rm build")).status == "pending"
    assert await owner.list_rules() == []


async def test_always_allow_on_a_plain_question_makes_no_rule(relay: LiveRelay, owner: RelayClient) -> None:
    asked = await owner.create_request("Pick", choices=[ALWAYS_ALLOW, "never"])
    await owner.answer(asked.id, ALWAYS_ALLOW)
    assert await owner.list_rules() == []


async def test_rules_are_the_owners_alone_and_bad_patterns_are_refused(relay: LiveRelay,
                                                                        owner: RelayClient) -> None:
    async with await relay.agent("coder") as agent:
        with pytest.raises(PermissionDeniedError):
            await agent.add_rule("coder", "Bash", "prefix", "rm")
        with pytest.raises(PermissionDeniedError):
            await agent.list_rules()
        with pytest.raises(PermissionDeniedError):
            await agent.audit_page()
    for kind, pattern in (("prefix", "ls; rm -rf ~"), ("path", "relative/dir"), ("glob", "*")):
        with pytest.raises(InvalidRequestError):
            await owner.add_rule("coder", "Bash", kind, pattern)  # type: ignore[arg-type]
    assert await owner.list_rules() == []


@pytest.mark.slow  # six CLI processes
async def test_rules_cli_adds_lists_and_revokes_with_agent_text_escaped(relay: LiveRelay,
                                                                         owner: RelayClient) -> None:
    code, out, err = await run_cli(relay, "rules", "add", "--agent", "evil\x1b]0;t\x07", "--tool", "Bash",
                                   "--prefix", "git status")
    assert code == 0, err
    rule_id = out.strip()
    code, out, _ = await run_cli(relay, "rules", "list")
    assert (code, out) == (0, f"{rule_id}  evil\\x1b]0;t\\x07  Bash  prefix  git status  by owner\n")
    code, out, _ = await run_cli(relay, "rules", "list", "--json")
    assert [(r["agent_name"], r["pattern"]) for r in json.loads(out)] == [("evil\x1b]0;t\x07", "git status")]
    code, out, err = await run_cli(relay, "rules", "add", "--agent", "coder", "--tool", "Bash", "--prefix", "ls; id")
    assert (code, out) == (1, "") and "pattern" in err
    assert (await run_cli(relay, "rules", "revoke", rule_id))[:2] == (0, f"revoked {rule_id}\n")
    code, _, err = await run_cli(relay, "rules", "revoke", "rule_ffffffffffff")
    assert code == 1 and "No rule has the id" in err
    assert await owner.list_rules() == []


@pytest.mark.slow  # two CLI processes
async def test_pending_shows_an_approvals_call_escaped(relay: LiveRelay, owner: RelayClient) -> None:
    async with await relay.agent("coder") as agent:
        asked = await approval(agent, "git status\nrm -rf ~ \x1b]0;x\x07", cwd="/w")
    code, out, err = await run_cli(relay, "pending")
    assert code == 0, err
    [row] = out.splitlines()
    assert row.startswith(asked.id) and row.endswith("⚙ Bash: git status\\x0arm -rf ~ \\x1b]0;x\\x07  (in /w)")
    code, out, _ = await run_cli(relay, "pending", "--json")
    assert json.loads(out)[0]["action"]["argument"] == "git status\nrm -rf ~ \x1b]0;x\x07"


async def test_a_blocking_ask_a_rule_matches_returns_at_once(relay: LiveRelay, owner: RelayClient) -> None:
    await owner.add_rule("coder", "Bash", "prefix", "npm test")
    body = {"prompt": "Allow Bash?", "choices": list(APPROVAL_CHOICES), "agent_name": "coder",
            "action": {"tool": "Bash", "argument": "npm test -- --watch=false", "cwd": "/work"}}
    headers = {"Authorization": f"Bearer {relay.owner_token}"}
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.post(f"{relay.url}/api/v1/hitl/request", json=body, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200
        answered = HitlRequest.model_validate(await resp.json())
    assert (answered.status, answered.response, answered.agent_name) == ("answered", ALLOW_ONCE, "coder")
    assert answered.answered_by is not None and answered.answered_by.startswith("rule:")


@pytest.mark.parametrize("action", [{"tool": ""}, {"tool": "Bash", "argument": "x" * 8001}, {"argument": "ls"},
                                    {"tool": "t" * 201}, "Bash", {"tool": "Bash", "cwd": ["/"]}])
async def test_a_malformed_action_is_a_clear_error_and_stores_nothing(relay: LiveRelay, owner: RelayClient,
                                                                      action: object) -> None:
    headers = {"Authorization": f"Bearer {relay.owner_token}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.post(
            f"{relay.url}/api/v1/hitl/request?wait=false", json={"prompt": "Allow?", "action": action}) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["code"] == "invalid_request"
    assert await owner.list_requests() == []
