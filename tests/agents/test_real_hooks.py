"""The installed hooks with the real Claude Code, offline: a tool call raises an approval the human
allows (the tool runs) or denies (Claude is told why), and a Stop raises a review whose Continue
text becomes Claude's next instruction.

``hitl-desk hooks install claude-code`` writes the hooks into a temporary HOME; Claude Code runs
headless (``claude -p``) with its model API pointed at the scripted Anthropic stand-in, which
replies with a ``Bash`` tool call.  The test plays the human over REST and reads what Claude Code
sent back to the stand-in.  Offline as in ``test_real_clients``: loopback only, a tripwire proxy.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.hookwire import ALLOW_ONCE, DONE
from hitl_desk.models import HitlRequest
from tests.agents.offline import agent_cli, claude_env
from tests.agents.standins import Anthropic, Say, Script, ToolCall, Tripwire
from tests.agents.test_real_clients import RUN_TIMEOUT
from tests.conftest import LiveRelay, live_relay
from tests.deadline import until

pytestmark = pytest.mark.slow

HITL_DESK = str(Path(sys.executable).with_name("hitl-desk"))
COMMAND = "printf 'hooked-%s\\n' 42 > hooked.txt && cat hooked.txt"
"""Writes a file, so Claude Code asks permission (read-only commands it may run unasked)."""
PROMPT = "Write hooked.txt with the shell, then say what it holds."
NEXT = "Now also list the files you made."


@dataclass
class Human:
    """Answers each pending request with the next of ``answers`` (None: leaves it to expire), and
    keeps what it was asked."""

    answers: list[Callable[[HitlRequest], str | None]]
    asked: list[HitlRequest] = field(default_factory=list)

    async def play(self, owner: RelayClient, finished: asyncio.Future[Any]) -> None:
        for answer in self.answers:
            request = await until(lambda: _pending(owner, finished), "Claude Code's next hook question",
                                  timeout=RUN_TIMEOUT)
            self.asked.append(request)
            text = answer(request)
            if text is None:
                await until(lambda: _closed(owner, request.id), "the question to expire", timeout=RUN_TIMEOUT)
            else:
                await owner.answer(request.id, text)


async def _closed(owner: RelayClient, request_id: str) -> bool:
    return (await owner.get_request(request_id)).is_final


async def _pending(owner: RelayClient, finished: asyncio.Future[Any]) -> HitlRequest | None:
    if finished.done():
        out, err = finished.result()
        raise AssertionError(f"Claude Code ended before asking:\n{out.decode()[-3000:]}\n{err.decode()[-3000:]}")
    requests = await owner.list_requests(status="pending")
    return requests[0] if requests else None


@dataclass
class Scene:
    """A relay, the stand-in, the tripwire and Claude Code's HOME with our hooks installed."""

    relay: LiveRelay
    model: Anthropic
    tripwire: Tripwire
    home: Path
    project: Path
    key: str

    async def run(self, human: Human) -> str:
        """Run ``claude -p`` while the human answers; its stdout."""
        env = claude_env(self.home, self.tripwire, self.model.url) | {"HITL_API_KEY": self.key}
        process = await asyncio.create_subprocess_exec(
            str(agent_cli("claude")), "-p", PROMPT, cwd=self.project, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        finished = asyncio.ensure_future(process.communicate())
        try:
            async with self.relay.owner() as owner:
                await human.play(owner, finished)
            out, err = await asyncio.wait_for(finished, RUN_TIMEOUT)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, f"exit {process.returncode}\n{out.decode()[-3000:]}\n{err.decode()[-3000:]}"
        assert self.model.errors == [] and self.tripwire.attempts == [], (self.model.errors, self.tripwire.attempts)
        return out.decode()


@asynccontextmanager
async def scene(tmp_path: Path, script: Script, *options: str) -> AsyncIterator[Scene]:
    """Everything ready, the hooks installed by ``hitl-desk hooks install claude-code [options]``."""
    async with AsyncExitStack() as stack:
        relay = await stack.enter_async_context(live_relay(tmp_path))
        model = await stack.enter_async_context(Anthropic(script))
        tripwire = await stack.enter_async_context(Tripwire())
        home, project = tmp_path / "agent-home", tmp_path / "project"
        for directory in (home / "tmp", project):
            directory.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")} | {
            "HOME": str(home), "HITL_HOME": str(relay.home), "HITL_SERVER_URL": relay.url}
        installed = await asyncio.create_subprocess_exec(
            HITL_DESK, "hooks", "install", "claude-code", *options, env=env, cwd=project,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await installed.communicate()
        assert installed.returncode == 0, err.decode()
        async with relay.owner() as owner:
            key = (await owner.create_api_key("claude-code")).api_key
        yield Scene(relay, model, tripwire, home, project, key)


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
        out = await run.run(human)
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
        await run.run(human)
        assert [r.choices[0] for r in human.asked] == ["Allow once", "Done"]
        assert not (run.project / "hooked.txt").exists()
        results = Anthropic.tool_results(script.requests[1])
        assert any(reason in result for result in results), results


async def test_an_unanswered_approval_never_allows_claude_decides_alone(tmp_path: Path) -> None:
    # Hook timeout 10 s, so the question expires after 5 s; headless Claude Code then denies by itself.
    script = Script([bash(), Say("It was not allowed.")])
    async with scene(tmp_path, script, "--timeout", "10") as run:
        human = Human([lambda r: None, lambda r: DONE])
        await run.run(human)
        assert not (run.project / "hooked.txt").exists()
        async with run.relay.owner() as owner:
            expired = await owner.get_request(human.asked[0].id)
        assert expired.status == "expired" and expired.choices[0] == "Allow once" and expired.expires_at is not None
        assert (expired.expires_at - expired.created_at).total_seconds() == 5
        assert not any("hooked-42" in result for result in Anthropic.tool_results(script.requests[1]))
