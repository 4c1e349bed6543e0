"""The printed MCP configurations work as printed: the real Claude Code, Codex and Gemini CLI, offline.

Each test runs ``hitl-desk mcp-config CLIENT`` against a live relay, writes exactly what it
printed into the CLI's own config files under a temporary HOME, and runs the CLI headless with its
model API pointed at a scripted stand-in on loopback (``tests/agents/standins.py``). The stand-in's
first reply calls our ``request_human_input`` tool; the CLI calls the relay; the test answers as the
human over REST; the stand-in then finds that answer in the CLI's next model request.

Offline: every base URL is on loopback, and ``HTTPS_PROXY``/``HTTP_PROXY`` point at a ``Tripwire``
that refuses and records anything else a CLI tries to reach; each test asserts it recorded nothing.
What keeps each CLI quiet (each was seen reaching out without it):
- Claude Code: ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` (without it: api.anthropic.com, six
  times a run), plus ``DISABLE_TELEMETRY``, ``DISABLE_ERROR_REPORTING``, ``DISABLE_AUTOUPDATER`` and
  ``CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL=1``, ``CLAUDE_CODE_AUTO_CONNECT_IDE=false`` for what it covers.
- Codex: ``[features] plugins = false`` (without it: github.com, api.github.com, chatgpt.com for the
  plugin marketplace), ``check_for_update_on_startup = false``, ``[analytics]`` and ``[feedback]`` off.
- Gemini CLI: ``privacy.usageStatisticsEnabled = false`` (without it: play.googleapis.com),
  ``telemetry.enabled = false``, ``general.enableAutoUpdate[Notification] = false``,
  ``ide.enabled = false``; ``GEMINI_CLI_TRUST_WORKSPACE=true`` trusts the temporary project.

The CLIs are the exact versions pinned in ``tests/agents/package.json`` (installed by scripts/test
with ``npm ci --prefix tests/agents``). Without node/npm the tests skip, except in CI (CI=true),
where a missing install fails.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from hitl_desk.models import HitlRequest
from tests.agents.offline import (
    agent_cli,
    claude_env,
    codex_config,
    codex_env,
    gemini_env,
    gemini_settings,
)
from tests.agents.scene import RUN_TIMEOUT, Human, Scene, stage
from tests.agents.standins import Anthropic, Gemini, OpenAIResponses, Say, Script, StandIn, ToolCall, Tripwire
from tests.relay.test_mcp_config import cli

pytestmark = pytest.mark.slow

QUESTION = "Deploy build 42 to production?"
ANSWER = "yes, deploy it after 18:00"
PROMPT = "Ask the human whether to deploy build 42, then tell me what they said."


class Run(Scene):
    """One headless run of a real CLI against the relay and a stand-in, asked one question."""

    async def printed(self, client: str) -> str:
        """What ``hitl-desk mcp-config CLIENT`` prints (it mints the client's key)."""
        code, out, err = await cli(self.relay, "mcp-config", client)
        assert code == 0, err
        return out

    async def answered(self, argv: list[str], env: dict[str, str], agent: str) -> tuple[str, HitlRequest]:
        """Run the CLI, answer its question as the human, and return its stdout and the request."""
        human = Human([lambda request: ANSWER])
        out = await self.run(argv, env, human)
        [request] = human.asked
        assert request.prompt == QUESTION and request.agent_name == agent
        return out, request

    def check_offline_and_answered(self, results: list[str]) -> None:
        """The stand-in saw the human's answer as the tool result; nothing tried to leave loopback."""
        assert self.model.errors == [], self.model.errors
        assert len(self.model.script.requests) >= 2, self.model.paths
        assert any(ANSWER in result for result in results), results
        assert self.tripwire.attempts == [], f"connections beyond loopback: {self.tripwire.attempts}"


@asynccontextmanager
async def scene(tmp_path: Path, standin: type[StandIn]) -> AsyncIterator[Run]:
    """A relay, a stand-in scripted to call request_human_input once, and a tripwire proxy."""
    script = Script([ToolCall("request_human_input", {"prompt": QUESTION, "choices": ["yes", "no"]})],
                    after=Say("The human answered."))
    async with stage(tmp_path, standin, script) as parts:
        yield Run(*parts)


async def test_claude_code_asks_the_human_through_the_printed_config(tmp_path: Path) -> None:
    claude = agent_cli("claude")
    async with scene(tmp_path, Anthropic) as run:
        printed = await run.printed("claude-code")
        headless = next(line for line in printed.splitlines() if line.startswith("#   claude -p"))
        command = headless.removeprefix("#").strip().replace('"your task"', shlex.quote(PROMPT))
        env = claude_env(run.home, run.tripwire, run.model.url)
        # The printed lines run as printed (add-json into HOME's ~/.claude.json, the export), then the
        # headless command it shows.
        argv = ["bash", "-euc", f"{printed}\nexec {command}"]
        out, _ = await run.answered(argv, env, agent="claude-code")
        assert claude.exists() and "The human answered." in out
        run.check_offline_and_answered(Anthropic.tool_results(run.model.script.requests[1]))


@pytest.mark.parametrize("approval_setting", [True, False], ids=["as-printed", "annotations-alone"])
async def test_codex_asks_the_human_through_the_printed_config(tmp_path: Path, approval_setting: bool) -> None:
    # Without default_tools_approval_mode, the tools' annotations alone must spare codex exec (approval
    # policy "never") the approval it cannot ask for: unannotated, the call failed with "requires approval".
    codex = agent_cli("codex")
    async with scene(tmp_path, OpenAIResponses) as run:
        printed = await run.printed("codex")
        if not approval_setting:
            printed, removed = re.subn(r"^default_tools_approval_mode = .*$", "", printed, flags=re.MULTILINE)
            assert removed == 1
        (key,) = re.findall(r"^#\s+export HITL_API_KEY=(\S+)$", printed, re.MULTILINE)
        codex_home = run.home / ".codex"
        codex_home.mkdir()
        (codex_home / "config.toml").write_text(codex_config(run.model.url) + printed)
        env = codex_env(run.home, run.tripwire) | {"HITL_API_KEY": shlex.split(key)[0]}
        argv = [str(codex), "exec", "--skip-git-repo-check", PROMPT]
        out, _ = await run.answered(argv, env, agent="codex")
        assert "The human answered." in out
        run.check_offline_and_answered(OpenAIResponses.tool_results(run.model.script.requests[1]))


async def test_gemini_cli_asks_the_human_through_the_printed_config(tmp_path: Path) -> None:
    gemini = agent_cli("gemini")
    async with scene(tmp_path, Gemini) as run:
        printed = json.loads(await run.printed("gemini"))
        settings = gemini_settings() | printed
        (run.home / ".gemini").mkdir()
        (run.home / ".gemini" / "settings.json").write_text(json.dumps(settings))
        env = gemini_env(run.home, run.tripwire, run.model.url)
        out, _ = await run.answered([str(gemini), "-p", PROMPT], env, agent="gemini")
        assert "The human answered." in out
        run.check_offline_and_answered(Gemini.tool_results(run.model.script.requests[1]))


async def test_the_anthropic_stand_in_drives_any_tool_such_as_claude_codes_own_bash(tmp_path: Path) -> None:
    # The hooks tests reuse this stand-in to make Claude Code run its own tools; here the real
    # Claude Code runs a scripted Bash call (allowed by a permission rule) and sends back its output.
    claude = agent_cli("claude")
    script = Script([ToolCall("Bash", {"command": "echo scripted-$((6 * 7))", "description": "Echo a number"})],
                    after=Say("Ran it."))
    async with Anthropic(script) as model, Tripwire() as tripwire:
        home, project = tmp_path / "agent-home", tmp_path / "project"
        for directory in (home / "tmp", project):
            directory.mkdir(parents=True)
        env = claude_env(home, tripwire, model.url)
        process = await asyncio.create_subprocess_exec(
            str(claude), "-p", "Echo a number.", "--allowedTools", "Bash(echo *)", cwd=project, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    assert process.returncode == 0, err.decode()[-3000:]
    assert "Ran it." in out.decode() and model.errors == [] and tripwire.attempts == []
    assert any("scripted-42" in result for result in Anthropic.tool_results(script.requests[1]))
