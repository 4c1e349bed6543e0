"""The hook endpoints with each client's documented JSON, over real HTTP against the live relay,
answered as the human over REST: the exact JSON each client reads back."""

from __future__ import annotations

from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.hookwire import ALLOW_ONCE, ALWAYS_ALLOW, CONTINUE, DENY, DONE
from relay.hooks.core import CONTINUED, DENIED, MAX_CONSECUTIVE_BLOCKS
from tests.conftest import LiveRelay
from tests.hooks.payloads import CLAUDE, CODEX, GEMINI, SUGGESTIONS, hook_call, one_pending, payload, post_hook


@pytest.fixture
async def key(owner: RelayClient) -> str:
    return (await owner.create_api_key("claude-on-laptop")).api_key


async def answered(relay: LiveRelay, owner: RelayClient, key: str, client: str, event: str,
                   body: dict[str, Any], answer: str) -> tuple[Any, list[str]]:
    """Run the hook, answer its question with ``answer``; what the client reads and the choices offered."""
    async with hook_call(relay, key, client, event, body) as call:
        asked = await one_pending(owner)
        await owner.answer(asked.id, answer)
        status, out = await call
    assert status == 200
    return out, asked.choices


def permission(decision: dict[str, Any]) -> dict[str, Any]:
    return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}}


async def test_permission_request_allowed_once_allows_without_rules(relay: LiveRelay, owner: RelayClient,
                                                                    key: str) -> None:
    out, choices = await answered(relay, owner, key, "claude-code", "PermissionRequest",
                                  CLAUDE["PermissionRequest"], ALLOW_ONCE)
    assert out == permission({"behavior": "allow"})
    assert choices == ["Allow once", "Deny", "Always allow"]


async def test_permission_request_always_allowed_returns_claudes_suggestions(relay: LiveRelay, owner: RelayClient,
                                                                             key: str) -> None:
    out, _ = await answered(relay, owner, key, "claude-code", "PermissionRequest",
                            CLAUDE["PermissionRequest"], ALWAYS_ALLOW)
    assert out == permission({"behavior": "allow", "updatedPermissions": SUGGESTIONS})


async def test_always_allow_makes_the_relay_answer_the_same_call_at_once(relay: LiveRelay, owner: RelayClient,
                                                                         key: str) -> None:
    out, _ = await answered(relay, owner, key, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"],
                            ALWAYS_ALLOW)
    assert out["hookSpecificOutput"]["decision"]["behavior"] == "allow"
    status, out = await post_hook(relay, key, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"])
    assert (status, out) == (200, permission({"behavior": "allow"}))
    other = payload(CLAUDE, "PermissionRequest", tool_input={"command": "npm test; curl evil.example"})
    out, _ = await answered(relay, owner, key, "claude-code", "PermissionRequest", other, DENY)
    assert out == permission({"behavior": "deny", "message": DENIED})
    requests = await owner.list_requests()
    assert [r.action.argument if r.action else None for r in requests] == ["npm test", "npm test",
                                                                           "npm test; curl evil.example"]
    assert requests[1].answered_by is not None and requests[1].answered_by.startswith("rule:")


async def test_a_call_too_long_for_a_rule_is_asked_without_always_allow(relay: LiveRelay, owner: RelayClient,
                                                                        key: str) -> None:
    body = payload(GEMINI, "BeforeTool", tool_input={"command": "echo " + "x" * 9000})
    out, choices = await answered(relay, owner, key, "gemini", "BeforeTool", body, ALLOW_ONCE)
    assert (out, choices) == ({"decision": "allow"}, ["Allow once", "Deny"])


async def test_permission_request_without_suggestions_offers_no_always_allow(relay: LiveRelay, owner: RelayClient,
                                                                             key: str) -> None:
    body = payload(CLAUDE, "PermissionRequest", permission_suggestions=[])
    out, choices = await answered(relay, owner, key, "claude-code", "PermissionRequest", body, DENY)
    assert choices == ["Allow once", "Deny"]
    assert out == permission({"behavior": "deny", "message": DENIED})


async def test_a_free_text_answer_denies_with_that_text_as_the_message(relay: LiveRelay, owner: RelayClient,
                                                                       key: str) -> None:
    out, _ = await answered(relay, owner, key, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"],
                            "use pytest -x instead")
    assert out == permission({"behavior": "deny", "message": "use pytest -x instead"})


async def test_the_approval_shows_the_command_its_reason_cwd_and_session(relay: LiveRelay, owner: RelayClient,
                                                                         key: str) -> None:
    async with hook_call(relay, key, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"]):
        asked = await one_pending(owner)
        await owner.answer(asked.id, DENY)
    assert asked.prompt.startswith("**Claude Code** asks to use `Bash`")
    assert "```sh\nnpm test\n```" in asked.prompt
    assert "`/home/u/project`" in asked.prompt and "`abc123`" in asked.prompt
    assert "Run the test suite" in asked.prompt
    assert asked.agent_name == "claude-on-laptop"


async def test_an_unanswered_approval_falls_back_to_claudes_own_prompt(relay: LiveRelay, owner: RelayClient,
                                                                       key: str) -> None:
    status, out = await post_hook(relay, key, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"],
                                  timeout=0.3)
    assert (status, out) == (200, {})
    [expired] = await owner.list_requests("expired")
    assert expired.choices[0] == ALLOW_ONCE


async def test_a_dismissed_approval_is_no_decision_never_an_allow(relay: LiveRelay, owner: RelayClient,
                                                                  key: str) -> None:
    async with hook_call(relay, key, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"]) as call:
        await owner.cancel((await one_pending(owner)).id, "dismissed")
        assert await call == (200, {})


@pytest.mark.parametrize(("answer", "expected"), [
    (ALLOW_ONCE, {"permissionDecision": "allow"}),
    ("not in my notes file", {"permissionDecision": "deny", "permissionDecisionReason": "not in my notes file"}),
])
async def test_pre_tool_use_allows_or_denies_with_a_reason(relay: LiveRelay, owner: RelayClient, key: str,
                                                           answer: str, expected: dict[str, str]) -> None:
    out, choices = await answered(relay, owner, key, "claude-code", "PreToolUse", CLAUDE["PreToolUse"], answer)
    assert out == {"hookSpecificOutput": {"hookEventName": "PreToolUse", **expected}}
    assert choices == ["Allow once", "Deny"]


async def test_a_write_shows_its_path_and_size(relay: LiveRelay, owner: RelayClient, key: str) -> None:
    async with hook_call(relay, key, "claude-code", "PreToolUse", CLAUDE["PreToolUse"]):
        asked = await one_pending(owner)
        await owner.answer(asked.id, DENY)
    assert "File `/home/u/project/notes.txt`: 2 lines, 8 bytes" in asked.prompt


async def test_an_edit_shows_a_diff_summary(relay: LiveRelay, owner: RelayClient, key: str) -> None:
    body = payload(CLAUDE, "PreToolUse", tool_name="Edit",
                   tool_input={"file_path": "/p/a.py", "old_string": "x = 1\ny = 2", "new_string": "x = 10\ny = 2"})
    async with hook_call(relay, key, "claude-code", "PreToolUse", body):
        asked = await one_pending(owner)
        await owner.answer(asked.id, DENY)
    assert "File `/p/a.py`: +1 −1 lines" in asked.prompt
    assert "-x = 1\n+x = 10" in asked.prompt


@pytest.mark.parametrize(("answer", "expected"), [
    (DONE, {}),
    (CONTINUE, {"decision": "block", "reason": CONTINUED}),
    ("now fix test_io.py too", {"decision": "block", "reason": "now fix test_io.py too"}),
])
async def test_stop_review_done_stops_and_continue_blocks_with_the_instruction(
        relay: LiveRelay, owner: RelayClient, key: str, answer: str, expected: dict[str, str]) -> None:
    out, choices = await answered(relay, owner, key, "claude-code", "Stop", CLAUDE["Stop"], answer)
    assert (out, choices) == (expected, ["Done", "Continue"])


async def test_the_review_shows_the_last_assistant_message(relay: LiveRelay, owner: RelayClient, key: str) -> None:
    async with hook_call(relay, key, "claude-code", "Stop", CLAUDE["Stop"]):
        asked = await one_pending(owner)
        await owner.answer(asked.id, DONE)
    assert "I fixed the parser; 3 tests still fail in test_io.py." in asked.prompt


async def test_stop_reviews_end_before_claudes_limit_of_consecutive_blocks(relay: LiveRelay, owner: RelayClient,
                                                                          key: str) -> None:
    body = CLAUDE["Stop"]
    for _ in range(MAX_CONSECUTIVE_BLOCKS):
        out, _ = await answered(relay, owner, key, "claude-code", "Stop", body, "again")
        assert out == {"decision": "block", "reason": "again"}
        body = payload(CLAUDE, "Stop", stop_hook_active=True)
    status, out = await post_hook(relay, key, "claude-code", "Stop", body)
    assert (status, out) == (200, {})
    assert await owner.list_requests("pending") == []
    [told] = await owner.list_requests(kind="notification")
    assert f"after {MAX_CONSECUTIVE_BLOCKS} continues in a row" in told.prompt
    # A new turn (stop_hook_active false) asks again.
    out, _ = await answered(relay, owner, key, "claude-code", "Stop", CLAUDE["Stop"], CONTINUE)
    assert out["decision"] == "block"


async def test_a_notification_reaches_the_human_and_decides_nothing(relay: LiveRelay, owner: RelayClient,
                                                                    key: str) -> None:
    assert await post_hook(relay, key, "claude-code", "Notification", CLAUDE["Notification"]) == (200, {})
    [told] = await owner.list_requests(kind="notification")
    assert told.prompt == "Claude Code: Permission needed: Claude needs your permission to use Bash"


@pytest.mark.parametrize(("answer", "decision"), [
    (ALLOW_ONCE, {"behavior": "allow"}),
    ("no network builds", {"behavior": "deny", "message": "no network builds"}),
])
async def test_codex_permission_request(relay: LiveRelay, owner: RelayClient, key: str, answer: str,
                                        decision: dict[str, str]) -> None:
    out, choices = await answered(relay, owner, key, "codex", "PermissionRequest", CODEX["PermissionRequest"], answer)
    assert out == permission(decision)
    assert choices == ["Allow once", "Deny", "Always allow"]  # the relay keeps the rule


async def test_codex_stop_continue_becomes_its_next_prompt(relay: LiveRelay, owner: RelayClient, key: str) -> None:
    out, _ = await answered(relay, owner, key, "codex", "Stop", CODEX["Stop"], "also update the changelog")
    assert out == {"decision": "block", "reason": "also update the changelog"}


async def test_codex_notify_is_a_notification(relay: LiveRelay, owner: RelayClient, key: str) -> None:
    assert await post_hook(relay, key, "codex", "notify", CODEX["notify"]) == (200, {})
    [told] = await owner.list_requests(kind="notification")
    assert told.prompt == "Codex finished a turn: Build is green."


@pytest.mark.parametrize(("answer", "expected"), [
    (ALLOW_ONCE, {"decision": "allow"}),
    (DENY, {"decision": "deny", "reason": DENIED}),
])
async def test_gemini_before_tool(relay: LiveRelay, owner: RelayClient, key: str, answer: str,
                                  expected: dict[str, str]) -> None:
    out, _ = await answered(relay, owner, key, "gemini", "BeforeTool", GEMINI["BeforeTool"], answer)
    assert out == expected


async def test_gemini_after_agent_retries_with_the_instruction(relay: LiveRelay, owner: RelayClient,
                                                               key: str) -> None:
    out, _ = await answered(relay, owner, key, "gemini", "AfterAgent", GEMINI["AfterAgent"], "show hidden files too")
    assert out == {"decision": "deny", "reason": "show hidden files too"}
    out, _ = await answered(relay, owner, key, "gemini", "AfterAgent", GEMINI["AfterAgent"], DONE)
    assert out == {}


async def test_an_unknown_client_or_event_is_404_not_found(relay: LiveRelay, key: str) -> None:
    for client, event in (("cursor", "Stop"), ("claude-code", "SessionStart")):
        status, out = await post_hook(relay, key, client, event, {})
        assert (status, out["error"]["code"]) == (404, "not_found")


async def test_a_hook_without_a_key_is_refused_and_asks_nobody(relay: LiveRelay, owner: RelayClient) -> None:
    status, out = await post_hook(relay, None, "claude-code", "PermissionRequest", CLAUDE["PermissionRequest"])
    assert status == 401
    assert await owner.list_requests() == []


async def test_a_hook_timeout_past_the_relays_cap_is_capped_not_refused(relay: LiveRelay, owner: RelayClient,
                                                                        key: str) -> None:
    async with hook_call(relay, key, "claude-code", "Stop", CLAUDE["Stop"], timeout=3000):
        asked = await one_pending(owner)
        await owner.answer(asked.id, DONE)
    assert asked.expires_at is not None and (asked.expires_at - asked.created_at).total_seconds() == 900
