"""The unmodified hitl-cli 1.2.1 (mcp 1.12, fastmcp 2.10) asks, notifies and reports over the relay's MCP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.compat.hitlcli import arun_hitl_cli, hitl_cli_venv
from tests.conftest import LiveRelay

QUIET = {"PYTHONWARNINGS": "ignore"}  # authlib's deprecation warning inside the client's own venv
TIMEOUT = 60.0


def human(request: HitlRequest) -> str | None:
    """Picks the second choice, and likes every finished task."""
    if request.kind == "input":
        return request.choices[1] if request.choices else "free text"
    return "Looks good, thanks" if request.kind == "completion" else None


@pytest.fixture(scope="module", autouse=True)
def _venv() -> None:
    """Build the client's venv before the first test, outside any test's timeout."""
    hitl_cli_venv()


async def test_request_notify_and_completion_print_the_humans_answers(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    key = (await relay.agent("hitl-cli-agent")).credential
    async with ScriptedApprover(owner, human) as approver:
        asked, notified, reported = await asyncio.gather(
            arun_hitl_cli(["request", "--prompt", "Ship it?", "--choice", "yes", "--choice", "no"],
                          server_url=relay.url, api_key=key, home=tmp_path, timeout=TIMEOUT, env=QUIET),
            arun_hitl_cli(["notify", "--message", "Build started"],
                          server_url=relay.url, api_key=key, home=tmp_path, timeout=TIMEOUT, env=QUIET),
            arun_hitl_cli(["notify-completion", "--summary", "All tests pass"],
                          server_url=relay.url, api_key=key, home=tmp_path, timeout=TIMEOUT, env=QUIET))
        await approver.wait_for(lambda a: len(a.answered) == 2)
    for done in (asked, notified, reported):
        assert done.returncode == 0, done.stdout + done.stderr
    assert "Human response received: no" in asked.stdout
    assert "✅ Notification sent" in notified.stdout
    assert "✅ Human response received: Looks good, thanks" in reported.stdout
    made = {r.kind: r for r in await owner.list_requests()}
    assert {kind: (r.agent_name, r.prompt) for kind, r in made.items()} == {
        "input": ("hitl-cli-agent", "Ship it?"),
        "notification": ("hitl-cli-agent", "Build started"),
        "completion": ("hitl-cli-agent", "All tests pass"),
    }
    assert made["input"].choices == ["yes", "no"]


async def test_without_a_key_the_client_reports_the_failure(relay: LiveRelay, tmp_path: Path) -> None:
    done = await arun_hitl_cli(["notify", "--message", "nope"], server_url=relay.url, api_key="mcp_pk_wrong",
                               home=tmp_path, timeout=TIMEOUT, env=QUIET)
    assert done.returncode != 0
    assert "401" in done.stdout + done.stderr


async def test_interrupting_the_client_mid_question_withdraws_it(
        relay: LiveRelay, owner: RelayClient, tmp_path: Path) -> None:
    key = (await relay.agent("impatient")).credential
    assert key is not None
    venv = await asyncio.to_thread(hitl_cli_venv)
    env = {"HOME": str(tmp_path), "PATH": os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"]),
           "LANG": "C.UTF-8", "HITL_SERVER_URL": relay.url, "HITL_API_KEY": key, **QUIET}
    async with ScriptedApprover(owner, lambda r: None) as approver:
        process = await asyncio.create_subprocess_exec(
            str(venv / "bin" / "hitl-cli"), "request", "--prompt", "Still there?", env=env, cwd=tmp_path,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await approver.wait_for(lambda a: any(e.type == "request.created" for e in a.events), timeout=TIMEOUT)
            process.send_signal(signal.SIGINT)
            await approver.wait_for(lambda a: any(e.type == "request.cancelled" for e in a.events))
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
    cancelled = next(e.request for e in approver.events if e.type == "request.cancelled")
    assert (cancelled.prompt, cancelled.answered_by) == ("Still there?", "agent:impatient")
