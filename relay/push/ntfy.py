"""Publishing to ntfy: one JSON message per push, from a bounded queue, retried with backoff.

The push is content-free by construction: ``push_message`` takes only the agent's name (hostile
text, made one plain line) and the link to the phone app; it never sees a prompt, a choice or an
envelope.  It uses ntfy's "publish as JSON" format (``POST`` to the server root with ``topic``,
``title``, ``message``, ``tags``, ``priority``, ``click``), which keeps every field in the body:
no agent text in a header, where a control character would break or forge one.

A server that is down, slow or refusing never touches a request: the broker only offers pushes to
the queue (full: the push is dropped), one worker posts them with short timeouts, retries a few
times with backoff, and logs an outage once (and its end), never with the token.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from hitl_desk.display import visible_line
from relay.push.target import NtfyTarget

log = logging.getLogger(__name__)
QUEUE_SIZE = 64
"""Pushes waiting to be sent; beyond it new ones are dropped (a down server cannot grow memory)."""
NAME_CHARS = 64
TITLE = "hitl-desk"


def push_message(target: NtfyTarget, agent_name: str, click: str | None, *, urgent: bool = True) -> dict[str, Any]:
    """The ntfy JSON message for "agent X needs you", linking to ``click`` when there is one."""
    name = visible_line(agent_name).strip() or "an agent"
    if len(name) > NAME_CHARS:
        name = name[:NAME_CHARS - 1] + "…"
    message: dict[str, Any] = {"topic": target.topic, "title": TITLE, "message": f"agent {name} needs you",
                               "tags": ["bell"], "priority": 4 if urgent else 3}
    if click:
        message["click"] = click
    return message


class NtfyPublisher:
    """Sends queued pushes to one ntfy server, off the request path."""

    def __init__(self, target: NtfyTarget, *, attempts: int = 3, backoff: float = 1.0,
                 timeout: float = 5.0) -> None:
        self.target = target
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 3.0))
        self.sent = 0
        """Pushes the server accepted (for tests and /metrics-style checks)."""
        self.dropped = 0
        """Pushes given up on: queue full, refused, or out of attempts."""
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        """Open the HTTP session and start the worker."""
        headers = {"Authorization": f"Bearer {self.target.token}"} if self.target.token else {}
        # trust_env off: a push goes straight to the server the user named, not through a proxy variable.
        self._session = aiohttp.ClientSession(headers=headers, timeout=self.timeout, trust_env=False)
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Stop the worker (pushes still queued are dropped) and close the session."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a push; never blocks, never raises (a full queue drops it)."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            self._outage(f"{QUEUE_SIZE} pushes are waiting")

    async def _work(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._deliver(message)
            except Exception:  # loop boundary: one bad push must not stop the next
                self.dropped += 1
                log.exception("publishing to ntfy failed")

    async def _deliver(self, message: dict[str, Any]) -> None:
        assert self._session is not None
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))  # backoff between attempts
            try:
                async with self._session.post(self.target.server + "/", json=message) as response:
                    if response.status < 300:
                        self.sent += 1
                        self._recovered()
                        return
                    why = f"it answered HTTP {response.status}"
                    if 400 <= response.status < 500 and response.status != 429:
                        break  # a wrong token or topic: retrying cannot help
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = f"it cannot be reached ({type(exc).__name__})"
            self._outage(why)
        self.dropped += 1

    def _outage(self, why: str) -> None:
        """Log the first failure of an outage, without the token (the address carries none)."""
        if not self._failing:
            self._failing = True
            log.warning("ntfy server %s: %s; pushes are retried %d times, then dropped (requests are "
                        "unaffected)", self.target.address, why, self.attempts)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("ntfy server %s accepts pushes again", self.target.address)
