"""One stage for the real agent CLIs with our hooks installed: a live relay, a scripted model
stand-in, the tripwire proxy, the agent's HOME with ``hitl-desk hooks install CLIENT`` done, an
agent key, and a human who answers the hooks' questions over REST while the CLI runs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from tests.agents.standins import Script, StandIn, Tripwire
from tests.conftest import LiveRelay, live_relay
from tests.deadline import until

HITL_DESK = str(Path(sys.executable).with_name("hitl-desk"))
RUN_TIMEOUT = 90.0
"""How long one headless run may take on a loaded CI machine (they take seconds)."""


@dataclass
class Human:
    """Answers each pending request with the next of ``answers`` (None: leaves it to expire), and
    keeps what it was asked."""

    answers: list[Callable[[HitlRequest], str | None]]
    asked: list[HitlRequest] = field(default_factory=list)

    async def play(self, owner: RelayClient, finished: asyncio.Future[Any]) -> None:
        """Answer the questions in turn while the CLI (``finished``) runs."""
        for answer in self.answers:
            request = await until(lambda: pending(owner, finished), "the CLI's next hook question",
                                  timeout=RUN_TIMEOUT)
            assert request is not None  # until returns only a true value
            self.asked.append(request)
            text = answer(request)
            if text is None:
                await until(lambda: _closed(owner, request.id), "the question to expire", timeout=RUN_TIMEOUT)
            else:
                await owner.answer(request.id, text)


async def _closed(owner: RelayClient, request_id: str) -> bool:
    return (await owner.get_request(request_id)).is_final


async def pending(owner: RelayClient, finished: asyncio.Future[Any]) -> HitlRequest | None:
    """The CLI's pending question, once it is there; fails at once if the CLI ended first."""
    if finished.done():
        out, err = finished.result()
        raise AssertionError(f"the CLI ended before asking:\n{out.decode()[-3000:]}\n{err.decode()[-3000:]}")
    requests = await owner.list_requests(status="pending")
    return requests[0] if requests else None


@dataclass
class Scene:
    """A relay, a stand-in, the tripwire, the agent's HOME with our hooks installed, an agent key."""

    relay: LiveRelay
    model: StandIn
    tripwire: Tripwire
    home: Path
    project: Path
    key: str = ""
    """The agent key a hooks scene minted ("": none)."""

    async def run(self, argv: list[str], env: dict[str, str], human: Human) -> str:
        """Run the CLI while the human answers; its stdout. It must exit 0, the stand-in must have
        seen nothing it could not answer, and nothing may have tried to leave loopback."""
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=self.project, env=env, stdin=asyncio.subprocess.DEVNULL,
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
async def stage(tmp_path: Path, standin: type[StandIn], script: Script) -> AsyncIterator[tuple[
        LiveRelay, StandIn, Tripwire, Path, Path]]:
    """A relay, the stand-in playing ``script``, the tripwire proxy, and the agent's HOME and project."""
    async with AsyncExitStack() as stack:
        relay = await stack.enter_async_context(live_relay(tmp_path))
        model = await stack.enter_async_context(standin(script))
        tripwire = await stack.enter_async_context(Tripwire())
        home, project = tmp_path / "agent-home", tmp_path / "project"
        for directory in (home / "tmp", project):
            directory.mkdir(parents=True)
        yield relay, model, tripwire, home, project


@asynccontextmanager
async def scene(tmp_path: Path, standin: type[StandIn], script: Script, client: str,
                *options: str) -> AsyncIterator[Scene]:
    """Everything ready, the hooks installed by ``hitl-desk hooks install CLIENT [options]``."""
    async with stage(tmp_path, standin, script) as (relay, model, tripwire, home, project):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")} | {
            "HOME": str(home), "HITL_HOME": str(relay.home), "HITL_SERVER_URL": relay.url}
        installed = await asyncio.create_subprocess_exec(
            HITL_DESK, "hooks", "install", client, *options, env=env, cwd=project,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await installed.communicate()
        assert installed.returncode == 0, err.decode()
        async with relay.owner() as owner:
            key = (await owner.create_api_key(client)).api_key
        yield Scene(relay, model, tripwire, home, project, key)
