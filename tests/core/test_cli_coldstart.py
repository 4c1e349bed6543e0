"""The agent-side commands start light: real ``hitl-desk`` processes against a live relay import
no asyncio, aiohttp or pydantic (``-X importtime`` lists every module a process loaded), and the
light path keeps the behaviour: exit codes, escaped JSON, waiting across a relay restart."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from hitl_desk.cli import main
from hitl_desk.e2ee import DeskEncryption
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, start_relay
from tests.core.test_cli_e2ee import env_for, hitl_desk
from tests.deadline import until
from tests.hostile import FORBIDDEN, HOSTILE
from tests.relay.test_durability import free_port

HEAVY = {"asyncio", "aiohttp", "pydantic", "pydantic_core", "mcp", "httpx2", "yarl", "multidict"}
"""Top-level packages an agent-side command must not load (about 200 ms of imports)."""
EXIT_EXPIRED, EXIT_UNAVAILABLE, EXIT_AUTH = 3, 5, 6
ARGV_SAFE = " ".join(text for text in HOSTILE.values() if "\x00" not in text)  # argv cannot hold NUL


async def imported_by(*args: str, env: dict[str, str]) -> tuple[set[str], str]:
    """Run ``python -X importtime -m hitl_desk.cli ARGS``: the top-level packages it imported, its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", "-m", "hitl_desk.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().splitlines()
    assert proc.returncode == 0, "\n".join(line for line in lines if not line.startswith("import time:"))
    modules = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    return modules, out.decode()


@pytest.mark.slow  # five CLI processes: about 2 s
async def test_agent_commands_import_no_asyncio_aiohttp_or_pydantic(relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        await DeskEncryption.ensure(owner, relay.settings)  # so --e2ee has a desk key to seal for
        key = (await owner.create_api_key("light-agent")).api_key
        env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key)
        async with ScriptedApprover(owner, lambda request: "yes" if request.prompt else None):
            runs = {
                "notify": ["notify", "--message", "light"],
                "notify --e2ee": ["notify", "--e2ee", "--message", "sealed and light"],
                "request": ["request", "--prompt", "Light?", "--choice", "yes", "--choice", "no"],
                "notify-completion": ["notify-completion", "--summary", "Done, lightly"],
            }
            for name, args in runs.items():
                modules, out = await imported_by(*args, env=env)
                assert modules & HEAVY == set(), name
                assert out.strip(), name
            assert out == "yes\n"  # notify-completion got the human's reply
        agent = await relay.agent("light-agent")
        async with agent:
            pending = await agent.create_request("to be withdrawn")
        modules, _ = await imported_by("cancel", pending.id, env=env)
        assert modules & HEAVY == set()
        assert (await owner.get_request(pending.id)).cancel_reason == "agent_cancelled"


async def test_json_output_of_request_and_notify_is_escaped_and_parses_to_the_exact_text(
        relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner, ScriptedApprover(owner, lambda request: ARGV_SAFE):
        env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=(await owner.create_api_key("a")).api_key)
        code, out, err = await hitl_desk("request", "--json", "--prompt", ARGV_SAFE, env=env)
        assert code == 0, err
        assert FORBIDDEN.search(out) is None
        done = json.loads(out)
        assert (done["prompt"], done["response"], done["status"]) == (ARGV_SAFE, ARGV_SAFE, "answered")
        code, out, err = await hitl_desk("notify", "--json", "--message", ARGV_SAFE, env=env)
        assert code == 0, err
        assert FORBIDDEN.search(out) is None and json.loads(out)["prompt"] == ARGV_SAFE


async def test_unreachable_relay_exits_5_and_a_refused_key_exits_6(relay: LiveRelay, tmp_path: Path) -> None:
    nowhere = env_for(tmp_path, f"http://127.0.0.1:{free_port()}", HITL_API_KEY="mcp_pk_nothing")
    code, out, err = await hitl_desk("notify", "--message", "anyone?", env=nowhere)
    assert (code, out) == (EXIT_UNAVAILABLE, "") and err.startswith("hitl-desk: No relay answered at")
    code, out, err = await hitl_desk("request", "--prompt", "who?", env=env_for(tmp_path, relay.url,
                                                                                 HITL_API_KEY="mcp_pk_revoked"))
    assert (code, out) == (EXIT_AUTH, "") and err.startswith("hitl-desk: ") and len(err.splitlines()) == 1


async def test_every_request_option_reaches_the_relay_and_expiry_keeps_its_exit_codes(
        relay: LiveRelay, tmp_path: Path) -> None:
    env = env_for(relay.home, relay.url)
    code, out, err = await hitl_desk("request", "--prompt", "Deploy?", "--choice", "yes", "--choice", "no",
                                     "--placeholder-text", "say yes or no", "--default-answer", "no",
                                     "--timeout", "0.5", "--agent", "option-agent", "--json", env=env)
    assert code == 0, err  # expired, but with its default answer
    done = json.loads(out)
    assert (done["status"], done["response"], done["choices"], done["placeholder_text"], done["default_answer"],
            done["agent_name"]) == ("expired", "no", ["yes", "no"], "say yes or no", "no", "option-agent")
    code, out, err = await hitl_desk("notify-completion", "--summary", "Done", "--timeout", "0.5",
                                     "--agent", "finisher", env=env)
    assert (code, out) == (EXIT_EXPIRED, "") and err.startswith("hitl-desk: Nobody answered request req_")
    async with relay.owner() as owner:
        [completion] = await owner.list_requests(kind="completion")
    assert (completion.agent_name, completion.status) == ("finisher", "expired")


@asynccontextmanager
async def answers_held(relay_url: str) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A loopback TCP relay-in-between that passes requests on at once but holds the relay's
    answers until the event is set: the client is caught with its question on the way."""
    release = asyncio.Event()
    host, port = relay_url.removeprefix("http://").split(":")
    pipes: list[asyncio.Task[None]] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, held: bool) -> None:
        if held:
            await release.wait()
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def connected(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        relay_r, relay_w = await asyncio.open_connection(host, int(port))
        pipes.extend([asyncio.create_task(pipe(client_r, relay_w, False)),
                      asyncio.create_task(pipe(relay_r, client_w, True))])

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", release
    finally:
        server.close()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


async def test_ctrl_c_while_the_question_is_on_its_way_takes_it_back_once_its_id_is_known(
        relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner, ScriptedApprover(owner, lambda request: None) as approver, \
            answers_held(relay.url) as (url, release):
        env = env_for(tmp_path / "agent-home", url, HITL_API_KEY=(await owner.create_api_key("hasty")).api_key)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hitl_desk.cli", "request", "--prompt", "Never mind", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await approver.wait_for(lambda a: any(e.type == "request.created" for e in a.events), timeout=30)
        proc.send_signal(signal.SIGINT)  # the relay holds the question; its answer (the id) has not arrived
        release.set()
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        await approver.wait_for(lambda a: any(e.type == "request.cancelled" for e in a.events))
    assert (proc.returncode, out) == (130, b""), err.decode()
    assert err.decode() == "hitl-desk: interrupted while asking; the question was taken back\n"
    [gone] = [e.request for e in approver.events if e.type == "request.cancelled"]
    assert gone.cancel_reason == "agent_cancelled"


def _ignoring_ctrl_c() -> None:
    """In the child before it runs: SIGINT ignored, as a shell's background job starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def test_a_command_started_ignoring_ctrl_c_keeps_ignoring_it_while_its_question_is_on_the_way(
        relay: LiveRelay, tmp_path: Path) -> None:
    # Ignored is ignored throughout: the hold used to catch a SIGINT the process was told to
    # ignore, and withdraw the question, or not, depending on when the signal came.
    async with relay.owner() as owner, ScriptedApprover(owner, lambda request: "yes") as approver, \
            answers_held(relay.url) as (url, release):
        env = env_for(tmp_path / "agent-home", url, HITL_API_KEY=(await owner.create_api_key("steady")).api_key)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hitl_desk.cli", "request", "--prompt", "Carry on?", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=_ignoring_ctrl_c)
        await approver.wait_for(lambda a: any(e.type == "request.created" for e in a.events), timeout=30)
        proc.send_signal(signal.SIGINT)  # the id has not reached the command: it is inside the hold
        release.set()
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert (proc.returncode, out) == (0, b"yes\n"), err.decode()
    assert not [e for e in approver.events if e.type == "request.cancelled"]


@pytest.mark.slow  # a relay stopped and started again under a waiting command: about 3 s
async def test_a_waiting_request_gets_its_answer_across_a_relay_restart(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    running = await start_relay(home, port)
    live = LiveRelay(running, home)
    try:
        asking = asyncio.create_task(hitl_desk("request", "--prompt", "Still there?", env=env_for(home, live.url)))
        async with live.owner() as owner:
            async def pending() -> list[str]:
                assert not asking.done(), asking.result()
                return [r.id for r in await owner.list_requests("pending")]

            [request_id] = await until(pending, "the question pending", timeout=30)
        await running.stop()
        running = await start_relay(home, port)
        live = LiveRelay(running, home)
        async with live.owner() as owner:
            await owner.answer(request_id, "still here")
        code, out, err = await asyncio.wait_for(asking, 60)
        assert (code, out) == (0, "still here\n"), err
    finally:
        await running.stop()


def test_top_level_help_lists_every_command_while_one_command_builds_alone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert all(command in listing for command in ("request", "notify", "cancel", "mcp-config", "relay", "tui"))
    with pytest.raises(SystemExit):
        main(["notify", "--help"])
    assert "--message" in capsys.readouterr().out
