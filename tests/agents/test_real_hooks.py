"""The installed hooks with the real Claude Code, offline: a tool call raises an approval the human
allows (the tool runs) or denies (Claude is told why), and a Stop raises a review whose Continue
text becomes Claude's next instruction.

``hitl-desk hooks install claude-code`` writes the hooks into a temporary HOME; Claude Code runs
headless (``claude -p``) with its model API pointed at the scripted Anthropic stand-in, which
replies with a ``Bash`` tool call.  The test plays the human over REST and reads what Claude Code
sent back to the stand-in.  Offline as in ``test_real_clients``: loopback only, a tripwire proxy.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.hookwire import ALLOW_ONCE, DONE
from tests.agents.offline import agent_cli, claude_env
from tests.agents.scene import Human, Scene
from tests.agents.scene import scene as hooked
from tests.agents.standins import Anthropic, Say, Script, ToolCall

pytestmark = pytest.mark.slow

COMMAND = "printf 'hooked-%s\\n' 42 > hooked.txt && cat hooked.txt"
"""Writes a file, so Claude Code asks permission (read-only commands it may run unasked)."""
PROMPT = "Write hooked.txt with the shell, then say what it holds."
NEXT = "Now also list the files you made."


def scene(tmp_path: Path, script: Script, *options: str) -> AbstractAsyncContextManager[Scene]:
    """Everything ready, the hooks installed by ``hitl-desk hooks install claude-code [options]``."""
    return hooked(tmp_path, Anthropic, script, "claude-code", *options)


async def claude(run: Scene, human: Human) -> str:
    """Run ``claude -p`` while the human answers; its stdout."""
    env = claude_env(run.home, run.tripwire, run.model.url) | {"HITL_API_KEY": run.key}
    return await run.run([str(agent_cli("claude")), "-p", PROMPT], env, human)


def bash() -> ToolCall:
    return ToolCall("Bash", {"command": COMMAND, "description": "Write hooked.txt"})


def said(body: dict[str, Any]) -> str:
    """Everything the user side of a request says (text blocks and strings), to find an instruction in."""
    parts: list[str] = []
    for message in body.get("messages") or ():
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        for block in content if isinstance(content, list) else ():
            if block.get("type") == "text":
                parts.append(block.get("text", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("form", [(), ("--command",)], ids=["http-hooks", "command-hooks"])
async def test_an_allowed_bash_call_runs_and_a_continue_becomes_the_next_instruction(tmp_path: Path,
                                                                                     form: tuple[str, ...]) -> None:
    script = Script([bash(), Say("hooked.txt holds hooked-42."), Say("Only hooked.txt.")])
    async with scene(tmp_path, script, *form) as run:
        human = Human([lambda r: ALLOW_ONCE, lambda r: NEXT, lambda r: DONE])
        out = await claude(run, human)
        approval, review, second_review = human.asked
        assert approval.prompt.startswith("**Claude Code** asks to use `Bash`") and COMMAND in approval.prompt
        assert approval.choices[:2] == ["Allow once", "Deny"]
        assert approval.action is not None and approval.action.argument == COMMAND
        assert (run.project / "hooked.txt").read_text() == "hooked-42\n"
        assert any("hooked-42" in result for result in Anthropic.tool_results(script.requests[1]))
        assert review.choices == ["Done", "Continue"] and "hooked.txt holds hooked-42." in review.prompt
        assert NEXT in said(script.requests[2])
        assert "Only hooked.txt." in second_review.prompt and "Only hooked.txt." in out


async def test_a_denied_bash_call_does_not_run_and_claude_is_told_why(tmp_path: Path) -> None:
    reason = "not on this machine; use the staging box"
    script = Script([bash(), Say("I will not write it.")])
    async with scene(tmp_path, script) as run:
        human = Human([lambda r: reason, lambda r: DONE])
        await claude(run, human)
        assert [r.choices[0] for r in human.asked] == ["Allow once", "Done"]
        assert not (run.project / "hooked.txt").exists()
        results = Anthropic.tool_results(script.requests[1])
        assert any(reason in result for result in results), results


async def test_an_unanswered_approval_never_allows_claude_decides_alone(tmp_path: Path) -> None:
    # Hook timeout 10 s, so the question expires after 5 s; headless Claude Code then denies by itself.
    script = Script([bash(), Say("It was not allowed.")])
    async with scene(tmp_path, script, "--timeout", "10") as run:
        human = Human([lambda r: None, lambda r: DONE])
        await claude(run, human)
        assert not (run.project / "hooked.txt").exists()
        async with run.relay.owner() as owner:
            expired = await owner.get_request(human.asked[0].id)
        assert expired.status == "expired" and expired.choices[0] == "Allow once" and expired.expires_at is not None
        assert (expired.expires_at - expired.created_at).total_seconds() == 5
        assert not any("hooked-42" in result for result in Anthropic.tool_results(script.requests[1]))
