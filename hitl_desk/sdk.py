"""The Python SDK: ``HITL`` for async code, ``HITLSync`` for scripts.

    hitl = HITL()                       # HITL_SERVER_URL / HITL_API_KEY / HITL_HOME
    answer = await hitl.request_input("Deploy?", choices=["yes", "no"])
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from hitl_desk.client import RelayClient, answer_deadline
from hitl_desk.errors import HitlError
from hitl_desk.models import HitlRequest
from hitl_desk.settings import Settings

if TYPE_CHECKING:
    from hitl_desk.e2ee import AgentEncryption

log = logging.getLogger(__name__)
T = TypeVar("T")


class HITL:
    """Ask the human from async code; errors are the catalog's exception classes."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *,
                 agent_name: str | None = None, settings: Settings | None = None,
                 e2ee: bool | None = None) -> None:
        settings = settings or Settings.from_env()
        from hitl_desk.signin import stored_credential

        signed_in = None if api_key or settings.api_key else stored_credential(settings)
        credential = api_key or settings.api_key or signed_in or settings.read_owner_token()
        self.client = RelayClient(url or settings.server_url, credential,
                                  missing_credential=settings.missing_credential_message(agent=True),
                                  renew=(lambda: stored_credential(settings)) if signed_in else None)
        self.agent_name = agent_name
        self.encryption: AgentEncryption | None = None
        if settings.e2ee if e2ee is None else e2ee:
            from hitl_desk.e2ee import AgentEncryption

            self.encryption = AgentEncryption(self.client, settings, agent_name)

    async def request_input(self, prompt: str, choices: list[str] | None = None,
                            placeholder: str | None = None, *, timeout: float | None = None,
                            default_answer: str | None = None) -> str:
        """Ask a question and return the human's answer (sealed end to end with ``e2ee``).

        Cancelling the call (a task cancelled, Ctrl+C under ``HITLSync``) withdraws the question.
        """
        created: list[HitlRequest] = []
        if self.encryption is not None:
            return await self._withdrawn_if_cancelled(created, self.encryption.ask(
                prompt, choices=choices, placeholder=placeholder, timeout_seconds=timeout,
                on_created=created.append))

        async def ask() -> HitlRequest:
            created.append(await self.client.create_request(
                prompt, choices=choices, placeholder_text=placeholder, timeout_seconds=timeout,
                default_answer=default_answer, agent_name=self.agent_name))
            return await self.client.wait_for_answer(created[0].id, deadline=answer_deadline(created[0]))

        return (await self._withdrawn_if_cancelled(created, ask())).outcome()

    async def notify_completion(self, summary: str, *, timeout: float | None = None) -> str:
        """Report a finished task and return the human's reply."""
        created: list[HitlRequest] = []
        if self.encryption is not None:
            return await self._withdrawn_if_cancelled(created, self.encryption.ask(
                summary, kind="completion", timeout_seconds=timeout, on_created=created.append))

        async def ask() -> HitlRequest:
            created.append(await self.client.create_completion(summary, timeout_seconds=timeout,
                                                               agent_name=self.agent_name))
            return await self.client.wait_for_answer(created[0].id, deadline=answer_deadline(created[0]))

        return (await self._withdrawn_if_cancelled(created, ask())).outcome()

    async def _withdrawn_if_cancelled(self, created: list[HitlRequest], work: Awaitable[T]) -> T:
        """``work``'s result; if the caller cancels it, the question it asked (appended to
        ``created``) is withdrawn first, and only that one: other calls on this client go on."""
        try:
            return await work
        except asyncio.CancelledError:
            for request in created:
                try:
                    await self.client.withdraw(request.id)
                except HitlError as exc:  # the relay is gone too: the request goes after its grace period
                    log.warning("could not withdraw %s: %s", request.id, exc.message)
            raise

    async def notify(self, message: str) -> str:
        """Send a notification; returns a confirmation."""
        if self.encryption is not None:
            await self.encryption.notify(message)
            return "Notification sent"
        await self.client.notify(message, agent_name=self.agent_name)
        return "Notification sent"

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.client.close()

    async def __aenter__(self) -> HITL:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


class HITLSync:
    """The same calls for synchronous scripts; each call runs its own event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs

    def _run(self, method: str, *args: Any, **kwargs: Any) -> str:
        async def call() -> str:
            async with HITL(*self._args, **self._kwargs) as hitl:
                result: str = await getattr(hitl, method)(*args, **kwargs)
                return result
        return asyncio.run(call())

    def request_input(self, prompt: str, choices: list[str] | None = None,
                      placeholder: str | None = None, **kwargs: Any) -> str:
        """Ask a question and return the human's answer."""
        return self._run("request_input", prompt, choices, placeholder, **kwargs)

    def notify_completion(self, summary: str, **kwargs: Any) -> str:
        """Report a finished task and return the human's reply."""
        return self._run("notify_completion", summary, **kwargs)

    def notify(self, message: str) -> str:
        """Send a notification."""
        return self._run("notify", message)
