"""A scripted human for tests: follows the real event stream and answers what arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from hitl_desk.client import EventStream, RelayClient
from hitl_desk.models import Event, HitlRequest


class ScriptedApprover:
    """Answers every pending request it sees on the event stream with ``respond(request)``."""

    def __init__(self, client: RelayClient, respond: Callable[[HitlRequest], str | None]) -> None:
        self.client = client
        self.respond = respond
        self.stream: EventStream = client.event_stream()
        self.events: list[Event] = []
        self.answered: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async for event in self.stream:
            self.events.append(event)
            request = event.request
            if event.type == "request.created" and request.status == "pending":
                text = self.respond(request)
                if text is not None:
                    await self.client.answer(request.id, text)
                    self.answered[request.id] = text
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[ScriptedApprover], bool], timeout: float = 10) -> None:
        """Wait until ``predicate(self)`` holds, re-checking after every event."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

    async def __aenter__(self) -> ScriptedApprover:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self.stream.ready.wait()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
