"""The installed hooks with the real Codex and Gemini CLI, offline (as ``test_real_hooks`` does for
Claude Code).

Codex 0.171.0: ``codex exec`` runs with approval policy ``never`` whatever the config says, so its
``PermissionRequest`` hook cannot fire headless (the endpoint and the command are tested with its
documented JSON in ``tests/hooks``); its ``Stop`` hook and ``notify`` program do run: a review's
Continue text becomes Codex's next user prompt, and the finished turn arrives as a notification.
Hooks Codex has not trusted yet run here through ``--dangerously-bypass-hook-trust`` (a user
trusts them once in ``/hooks``).

Gemini CLI 0.61.0 offers its shell tool headless only with ``--approval-mode yolo``; its
``BeforeTool`` hook still runs first, so the human allows (the command runs) or denies (Gemini
is told why), and ``AfterAgent``'s retry makes a review's Continue text the next prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hitl_desk.hookwire import ALLOW_ONCE, DONE
from tests.agents import offline
from tests.agents.offline import agent_cli
from tests.agents.scene import Human, Scene, scene
from tests.agents.standins import Gemini, OpenAIResponses, Say, Script, ToolCall
from tests.deadline import until

pytestmark = pytest.mark.slow

NEXT = "Also write the changelog."


def codex_config(scene: Scene) -> None:
    """The stand-in as Codex's model provider and everything that phones out off, after our notify line."""
    config = scene.home / ".codex" / "config.toml"
    config.write_text(config.read_text() + offline.codex_config(scene.model.url))


def user_texts(body: dict[str, object]) -> list[str]:
    """The text of every user message in a Responses API request."""
    found: list[str] = []
    for item in body.get("input") or []:  # type: ignore[attr-defined]
        if isinstance(item, dict) and item.get("role") == "user":
            found += [part.get("text", "") for part in item.get("content") or [] if isinstance(part, dict)]
    return found


async def test_codex_stop_review_continues_with_the_humans_text_and_its_turns_are_notified(tmp_path: Path) -> None:
    codex = agent_cli("codex")
    script = Script([ToolCall("exec_command", {"cmd": "echo hooked-42"}), Say("Build is green.")],
                    after=Say("Changelog written."))
    async with scene(tmp_path, OpenAIResponses, script, "codex") as run:
        codex_config(run)
        env = offline.codex_env(run.home, run.tripwire) | {"HITL_API_KEY": run.key}
        human = Human([lambda r: NEXT, lambda r: DONE])
        out = await run.run([str(codex), "exec", "--skip-git-repo-check", "--dangerously-bypass-hook-trust",
                             "Check the build."], env, human)
        first, second = human.asked
        assert first.choices == ["Done", "Continue"] and "Build is green." in first.prompt
        assert "Changelog written." in second.prompt and "Changelog written." in out
        assert any(NEXT in text for text in user_texts(script.requests[2])), user_texts(script.requests[2])
        async with run.relay.owner() as owner:  # Codex starts notify and does not wait for it
            notes = await until(lambda: owner.list_requests(kind="notification"), "Codex's notify")
        assert [n.prompt for n in notes] == ["Codex finished a turn: Changelog written."]


SHELL = "echo hooked-42 > made.txt; cat made.txt"


def gemini_run(run: Scene) -> tuple[list[str], dict[str, str]]:
    """Gemini CLI's settings (ours merged with the offline ones) and its command line and environment."""
    path = run.home / ".gemini" / "settings.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | offline.gemini_settings()))
    env = offline.gemini_env(run.home, run.tripwire, run.model.url) | {"HITL_API_KEY": run.key}
    return [str(agent_cli("gemini")), "--approval-mode", "yolo", "-p", "Write made.txt."], env


def last_user_text(body: dict[str, object]) -> str:
    """The text parts of a Gemini request's last user turn."""
    contents = body.get("contents") or []
    last = contents[-1] if isinstance(contents, list) and contents else {}
    return " ".join(part.get("text", "") for part in last.get("parts") or [] if isinstance(part, dict))


async def test_gemini_before_tool_denies_with_a_reason_allows_and_after_agent_continues(tmp_path: Path) -> None:
    # One Gemini CLI run (its start-up is most of the cost): the same command denied, then allowed.
    reason = "not before you say why"
    call = ToolCall("run_shell_command", {"command": SHELL, "description": "write it"})
    script = Script([call, call, Say("made.txt holds hooked-42.")], after=Say("Listed."))
    async with scene(tmp_path, Gemini, script, "gemini") as run:
        argv, env = gemini_run(run)
        human = Human([lambda r: reason, lambda r: ALLOW_ONCE, lambda r: NEXT, lambda r: DONE])
        await run.run(argv, env, human)
        denied, allowed, review, _ = human.asked
        assert denied.prompt.startswith("**Gemini CLI** asks to use `run_shell_command`") and SHELL in denied.prompt
        assert any(reason in result for result in Gemini.tool_results(script.requests[1]))
        assert allowed.choices == ["Allow once", "Deny", "Always allow"]
        assert (run.project / "made.txt").read_text() == "hooked-42\n"
        assert any("hooked-42" in result for result in Gemini.tool_results(script.requests[2]))
        assert "made.txt holds hooked-42." in review.prompt
        assert NEXT in last_user_text(script.requests[3])
