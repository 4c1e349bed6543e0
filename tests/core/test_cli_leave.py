"""An agent that leaves withdraws its question: Ctrl+C on a waiting ``hitl-desk request`` or
``notify-completion``, ``hitl-desk cancel ID``, and a cancelled SDK call; approvers see it go
with the reason, ``hitl-desk watch`` included."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hitl_desk.e2ee import DeskEncryption
from hitl_desk.models import Event, HitlRequest
from hitl_desk.sdk import HITL
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay
from tests.core.test_cli_e2ee import env_for, hitl_desk

EXIT_INTERRUPTED, EXIT_CANCELLED = 130, 4


def never(_request: HitlRequest) -> str | None:
    """An approver that only watches."""
    return None


def saw(event_type: str) -> Callable[[ScriptedApprover], bool]:
    """Approver predicate: an event of this type arrived."""
    return lambda a: any(e.type == event_type for e in a.events)


def only(approver: ScriptedApprover, event_type: str) -> Event:
    """The one event of this type the approver saw."""
    [found] = [e for e in approver.events if e.type == event_type]
    return found


ASKING = {
    "request": ["request", "--prompt", "Deploy now?", "--choice", "yes", "--choice", "no"],
    "notify-completion": ["notify-completion", "--summary", "Refactor done; anything else?"],
    "request --e2ee": ["request", "--e2ee", "--prompt", "Sealed: deploy now?"],
}


async def exited(proc: asyncio.subprocess.Process, timeout: float) -> tuple[bytes, bytes]:
    """Its output once it exits; if it does not in time, the failure shows where each of its
    threads was (``PYTHONFAULTHANDLER`` in its environment prints them on SIGABRT)."""
    try:
        return await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.send_signal(signal.SIGABRT)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        raise AssertionError(f"still running {timeout:g} s after SIGINT; its stacks:\n{err.decode()}") from None


@pytest.mark.parametrize("command", list(ASKING))
async def test_ctrl_c_on_a_waiting_question_withdraws_it_then_exits_130(
        relay: LiveRelay, tmp_path: Path, command: str) -> None:
    async with relay.owner() as owner:
        if "--e2ee" in command:
            await DeskEncryption.ensure(owner, relay.settings)
        key = (await owner.create_api_key("shell-agent")).api_key
        env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key, PYTHONFAULTHANDLER="1")
        async with ScriptedApprover(owner, never) as approver:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hitl_desk.cli", *ASKING[command], env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            await approver.wait_for(saw("request.created"), timeout=30)
            proc.send_signal(signal.SIGINT)
            out, err = await exited(proc, 30)
            await approver.wait_for(saw("request.cancelled"))
    asked = only(approver, "request.created").request
    gone = only(approver, "request.cancelled").request
    assert proc.returncode == EXIT_INTERRUPTED, err.decode()
    assert (gone.id, gone.cancel_reason, gone.answered_by) == (asked.id, "agent_cancelled", "agent:shell-agent")
    # Usually the question was waiting ("withdrew ID"); a Ctrl+C that lands while the ask is
    # still in flight is taken back by the client itself.
    assert f"withdrew {asked.id}" in err.decode() or "interrupted while asking" in err.decode(), err.decode()
    assert out == b"" and b"Traceback" not in err


# A Ctrl+C that lands the instant the hold on SIGINT ends, as the old handler comes back (the
# window CI hit once: the question stayed pending). The stand-in for the signal is a
# ``signal.signal`` that raises as it restores Python's default handler.
LANDS_AS_THE_HOLD_ENDS = """
import signal, sys
real = signal.signal
def restoring(signum, handler):
    previous = real(signum, handler)
    if signum == signal.SIGINT and handler is signal.default_int_handler:
        raise KeyboardInterrupt
    return previous
signal.signal = restoring
from hitl_desk.cli import main
sys.exit(main())
"""


async def test_ctrl_c_as_the_hold_ends_still_withdraws_the_question(relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        key = (await owner.create_api_key("shell-agent")).api_key
        env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key)
        async with ScriptedApprover(owner, never) as approver:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", LANDS_AS_THE_HOLD_ENDS, *ASKING["request"], env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            await approver.wait_for(saw("request.cancelled"))
        assert proc.returncode == EXIT_INTERRUPTED, err.decode()
        assert await owner.list_requests("pending") == []


async def test_cancel_command_withdraws_by_id_for_the_agent_or_the_owner(relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        key = (await owner.create_api_key("shell-agent")).api_key
        other = await relay.agent("other-agent")
        async with other:
            theirs = await other.create_request("not yours")
        agent = await relay.agent("shell-agent")
        async with agent:
            mine = await agent.create_request("mine")
            dismissed = await agent.create_request("the human's call")
    agent_env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key)
    owner_env = env_for(relay.home, relay.url)
    assert (await hitl_desk("cancel", theirs.id, env=agent_env))[0] == 1  # another agent's: not found
    code, _, err = await hitl_desk("cancel", mine.id, "--reason", "dismissed", env=agent_env)
    assert code == 1 and "Only the owner dismisses" in err  # an agent cannot pass for the human
    code, _, err = await hitl_desk("cancel", mine.id, env=agent_env)
    assert (code, err) == (0, f"cancelled {mine.id} (agent_cancelled)\n")
    code, _, err = await hitl_desk("cancel", dismissed.id, env=owner_env)
    assert (code, err) == (0, f"cancelled {dismissed.id} (dismissed)\n")
    code, _, err = await hitl_desk("cancel", mine.id, env=agent_env)
    assert code == EXIT_CANCELLED and "cancelled" in err
    async with relay.owner() as owner:
        assert (await owner.get_request(theirs.id)).status == "pending"


async def test_watch_shows_why_a_request_went(relay: LiveRelay, tmp_path: Path) -> None:
    env = env_for(relay.home, relay.url)
    watch = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "watch", "--since", "0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        agent = await relay.agent("watched-agent")
        async with agent:
            asked = await agent.create_request("going away")
            assert watch.stdout is not None
            async with asyncio.timeout(30):
                while b"request.created" not in await watch.stdout.readline():
                    pass  # the watcher is following: what comes next is live
            await agent.cancel(asked.id)
            async with asyncio.timeout(30):
                while b"request.cancelled" not in (line := await watch.stdout.readline()):
                    pass
    finally:
        watch.terminate()
        await watch.wait()
    assert asked.id in line.decode() and line.decode().rstrip().endswith("(withdrawn by the agent)")


async def test_cancelled_sdk_call_withdraws_its_question(relay: LiveRelay) -> None:
    agent = await relay.agent("sdk-agent")
    await agent.close()
    async with relay.owner() as owner, ScriptedApprover(owner, never) as approver, \
            HITL(relay.url, agent.credential, settings=relay.settings, e2ee=False) as hitl:
        other = asyncio.create_task(hitl.notify_completion("Meanwhile, this one stays"))
        await approver.wait_for(saw("request.created"))
        call = asyncio.create_task(hitl.request_input("Shall I?", ["yes", "no"]))
        await approver.wait_for(lambda a: len([e for e in a.events if e.type == "request.created"]) == 2)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        await approver.wait_for(saw("request.cancelled"))
        gone = only(approver, "request.cancelled").request
        assert (gone.prompt, gone.cancel_reason) == ("Shall I?", "agent_cancelled")
        [stays] = await owner.list_requests("pending")  # the other call on the same client goes on
        await owner.answer(stays.id, "noted")
        assert await asyncio.wait_for(other, 10) == "noted"


SCRIPT = """
import sys
from hitl_desk import HITLSync
try:
    HITLSync(agent_name="script").request_input("From a script: go on?", ["yes", "no"])
except KeyboardInterrupt:
    sys.exit(130)
"""


async def test_ctrl_c_in_a_script_using_hitlsync_withdraws_its_question(relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        key = (await owner.create_api_key("script")).api_key
        env = env_for(tmp_path / "agent-home", relay.url, HITL_API_KEY=key)
        async with ScriptedApprover(owner, never) as approver:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SCRIPT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            await approver.wait_for(saw("request.created"), timeout=30)
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            await approver.wait_for(saw("request.cancelled"))
    assert proc.returncode == EXIT_INTERRUPTED, err.decode()
    assert only(approver, "request.cancelled").request.cancel_reason == "agent_cancelled"


async def test_an_ask_cancelled_before_its_answer_arrives_is_taken_back(relay: LiveRelay) -> None:
    agent = await relay.agent("hasty-agent")
    async with relay.owner() as owner, agent, ScriptedApprover(owner, never) as approver:
        asking = asyncio.create_task(agent.create_request("Never mind"))
        await asyncio.sleep(0)  # one turn: the POST is on its way, its answer is not back yet
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        await approver.wait_for(saw("request.cancelled"))
    assert only(approver, "request.cancelled").request.cancel_reason == "agent_cancelled"
