"""The async client every hitl-desk program uses to talk to a relay: REST plus the event stream.

Errors come back as the catalog's exception classes; a relay that does not answer raises
``RelayUnavailableError``.  ``wait_for_answer`` survives a relay restart: it resumes by id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
from pydantic import BaseModel, TypeAdapter

from hitl_desk.action import ToolAction
from hitl_desk.asker import NO_DESK_KEY
from hitl_desk.errors import (
    AuthenticationError,
    HitlError,
    KeyMissingError,
    NotFoundError,
    RelayUnavailableError,
    RequestClosedError,
    error_from_payload,
)
from hitl_desk.keywire import KeyRegister, KeyRegistered, UserKey
from hitl_desk.lifecycle import POLL_CHUNK, answer_deadline_at
from hitl_desk.models import (
    MAX_PAGE_SIZE,
    Agent,
    AnswerCreate,
    CancelChoice,
    CancelCreate,
    CompletionCreate,
    EncryptedCreate,
    Health,
    HitlRequest,
    InputRequestCreate,
    NotificationCreate,
    NotifyResult,
    RequestPage,
)
from hitl_desk.owner_calls import OwnerCalls
from hitl_desk.settings import Settings
from hitl_desk.stream import EventStream as EventStream  # re-exported: approvers import it from the client
from hitl_desk.stream import StreamState as StreamState

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
USER_KEYS = TypeAdapter(list[UserKey])
AGENTS = TypeAdapter(list[Agent])


class RelayClient(OwnerCalls):
    """REST and WebSocket access to one relay with one credential."""

    def __init__(self, base_url: str, credential: str | None = None, *,
                 timeout: float = 60.0, missing_credential: str | None = None, via: str | None = None,
                 renew: Callable[[], str | None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.via = via
        """The approver program this client answers for (tui, tray, cli): the audit log records it."""
        self._renew = renew  # a fresh credential after a 401 (an OAuth sign-in's refreshed token)
        self._missing_credential = missing_credential  # the message for a 401 when we sent none
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_owner(cls, settings: Settings | None = None, url: str | None = None, *,
                  via: str | None = None) -> RelayClient:
        """A client with the owner credential from ``HITL_HOME`` (approvers and admin commands)."""
        settings = settings or Settings.from_env()
        return cls(url or settings.server_url, settings.read_owner_token(),
                   missing_credential=settings.missing_credential_message(), via=via)

    @classmethod
    def for_agent(cls, settings: Settings | None = None, url: str | None = None) -> RelayClient:
        """A client for asking: ``HITL_API_KEY`` if set, else ``hitl-desk login``'s token, else the owner's."""
        from hitl_desk.signin import agent_credential

        settings = settings or Settings.from_env()
        credential, renew = agent_credential(settings)
        return cls(url or settings.server_url, credential, renew=renew,
                   missing_credential=settings.missing_credential_message(agent=True))

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created on first use)."""
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.credential}"} if self.credential else {}
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _call(self, method: str, path: str, model: type[M] | None = None, *,
                    body: BaseModel | None = None, params: dict[str, Any] | None = None,
                    timeout: float | None = None, renewed: bool = False) -> Any:
        query = {k: _q(v) for k, v in (params or {}).items() if v is not None}
        # Bodies are built with model_construct: the relay is the edge that validates them, and
        # answers a misfit with its catalog error (the client must not pre-empt it with its own).
        data = None if body is None else body.model_dump(mode="json", exclude_none=True)
        status, payload = await self._exchange(method, path, timeout, json=data, params=query)
        if status == 401 and self._renew is not None and not renewed:  # the access token expired
            fresh = await asyncio.to_thread(self._renew)
            if fresh and fresh != self.credential:
                self.credential = fresh
                await self.close()  # the next session sends the new credential
                return await self._call(method, path, model, body=body, params=params, timeout=timeout,
                                        renewed=True)
        if status == 401 and self.credential is None and self._missing_credential:
            raise AuthenticationError(self._missing_credential)
        return self._result(status, payload, model)

    async def _exchange(self, method: str, path: str, timeout: float | None, **options: Any) -> tuple[int, Any]:
        """One HTTP exchange with the relay: its status and JSON body (``RelayUnavailableError`` when
        nothing answers)."""
        try:
            async with self.session.request(method, self.base_url + path,
                                            timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
                                            **options) as resp:
                text = await resp.text()
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise RelayUnavailableError(f"No relay answered at {self.base_url} ({exc.__class__.__name__}).") from exc
        return resp.status, json.loads(text) if text else None

    @staticmethod
    def _result(status: int, payload: Any, model: type[M] | None) -> Any:
        """The body as ``model``, or the catalog error the relay answered with."""
        if status >= 400:
            raise error_from_payload(status, payload)
        return payload if model is None else model.model_validate(payload)

    async def call(self, method: str, path: str, model: type[M], *, body: BaseModel | None = None,
                   params: dict[str, Any] | None = None, timeout: float | None = None) -> M:
        """Any route as a wire model (the pairing steps use it; the common routes have methods)."""
        result: M = await self._call(method, path, model, body=body, params=params, timeout=timeout)
        return result

    # -- asking -------------------------------------------------------------------------------

    async def create_request(self, prompt: str, *, choices: list[str] | None = None,
                             placeholder_text: str | None = None, timeout_seconds: float | None = None,
                             default_answer: str | None = None, agent_name: str | None = None,
                             action: ToolAction | None = None) -> HitlRequest:
        """Put a question to the human (``action``: an approval of that tool call); returns at once,
        pending, or already answered by an always-allow rule."""
        body = InputRequestCreate.model_construct(
            prompt=prompt, choices=choices or None, placeholder_text=placeholder_text, action=action,
            timeout_seconds=timeout_seconds, default_answer=default_answer, agent_name=agent_name, wait=False)
        return await self._ask("/api/v1/hitl/request", body)

    async def create_completion(self, summary: str, *, timeout_seconds: float | None = None,
                                agent_name: str | None = None) -> HitlRequest:
        """Report a finished task; returns the pending request at once."""
        body = CompletionCreate.model_construct(summary=summary, timeout_seconds=timeout_seconds,
                                                agent_name=agent_name, wait=False)
        return await self._ask("/api/v1/hitl/complete", body)

    async def _ask(self, path: str, body: BaseModel) -> HitlRequest:
        """POST a question; a caller cancelled mid-POST never learns the id, so the question is
        taken back here once the relay has answered (approvers see it go at once)."""
        posted = asyncio.ensure_future(self._call("POST", path, HitlRequest, body=body))
        try:
            result: HitlRequest = await asyncio.shield(posted)
        except asyncio.CancelledError:
            try:
                await self.withdraw((await posted).id)
            except HitlError as exc:  # refused, or the relay is gone: nothing was left behind, or it expires
                log.info("no question to take back after a cancelled ask: %s", exc.message)
            raise
        return result

    async def notify(self, message: str, *, agent_name: str | None = None) -> HitlRequest:
        """Send a fire-and-forget notification."""
        result: NotifyResult = await self._call("POST", "/api/v1/hitl/notify", NotifyResult,
                                                body=NotificationCreate.model_construct(message=message,
                                                                                        agent_name=agent_name))
        return result.request

    async def get_request(self, request_id: str, *, wait: float = 0) -> HitlRequest:
        """A request's state, long-polling up to ``wait`` seconds for a final one."""
        result: HitlRequest = await self._call(
            "GET", f"/api/v1/hitl/requests/{request_id}", HitlRequest,
            params={"wait": wait or None}, timeout=wait + self._timeout)
        return result

    async def wait_for_answer(self, request_id: str, *, deadline: float | None = None) -> HitlRequest:
        """Block until the request is final, resuming by id across relay restarts.

        ``deadline`` is a ``time.monotonic()`` value; past it the current state is returned.
        """
        delay = 0.05
        while True:
            remaining = POLL_CHUNK if deadline is None else deadline - time.monotonic()
            try:
                request = await self.get_request(request_id, wait=max(0.0, min(POLL_CHUNK, remaining)))
            except RelayUnavailableError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                log.info("relay unavailable; resuming request %s in %.2f s", request_id, delay)
                await asyncio.sleep(delay)  # back-off between reconnection attempts
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            if request.is_final or (deadline is not None and time.monotonic() >= deadline):
                return request

    async def ask(self, prompt: str, **kwargs: Any) -> HitlRequest:
        """Create a question and wait for its final state."""
        created = await self.create_request(prompt, **kwargs)
        return await self.wait_for_answer(created.id, deadline=answer_deadline(created))

    # -- end-to-end encryption ----------------------------------------------------------------

    async def desk_public_key(self, *, missing_ok: bool = False) -> str:
        """The desk's public key as the relay serves it (``KeyMissingError`` when none)."""
        keys = USER_KEYS.validate_python(await self._call("GET", "/api/v1/keys/user"))
        if keys:
            return keys[0].public_key
        if missing_ok:
            return ""
        raise KeyMissingError(NO_DESK_KEY)

    async def register_key(self, entity_type: Literal["agent", "user"], entity_id: str | None,
                           public_key: str) -> KeyRegistered:
        """Register a public key (``agent``: this caller's agent or a named one; ``user``: the desk)."""
        result: KeyRegistered = await self._call(
            "POST", "/api/v1/keys/register", KeyRegistered,
            body=KeyRegister.model_construct(entity_type=entity_type, entity_id=entity_id, public_key=public_key))
        return result

    async def create_encrypted(self, kind: str, encrypted_payload: str, *, request_id: str | None = None,
                               timeout_seconds: float | None = None,
                               agent_name: str | None = None) -> HitlRequest:
        """Send a sealed request (``input``, ``completion`` or ``notification``); returns at once."""
        path = {"input": "request", "completion": "complete", "notification": "notify"}[kind]
        body = EncryptedCreate.model_construct(encrypted_payload=encrypted_payload, request_id=request_id,
                                               timeout_seconds=timeout_seconds, agent_name=agent_name, wait=False)
        if kind != "notification":
            return await self._ask(f"/api/v1/hitl/{path}/e2ee", body)
        sent: NotifyResult = await self._call("POST", f"/api/v1/hitl/{path}/e2ee", NotifyResult, body=body)
        return sent.request

    async def answer_encrypted(self, request_id: str, encrypted_response: str) -> HitlRequest:
        """Answer an encrypted request with a sealed response."""
        result: HitlRequest = await self._call("POST", f"/api/v1/hitl/requests/{request_id}/answer",
                                               HitlRequest,
                                               body=AnswerCreate.model_construct(encrypted_response=encrypted_response,
                                                                                 via=self.via))
        return result

    # -- approving ----------------------------------------------------------------------------

    async def requests_page(self, status: str | None = None, *, kind: str | None = None,
                            limit: int = MAX_PAGE_SIZE, cursor: str | None = None,
                            newest_first: bool = False) -> RequestPage:
        """One page of requests filtered by status and kind; pass its ``next_cursor`` for the next."""
        result: RequestPage = await self._call(
            "GET", "/api/v1/hitl/requests", RequestPage,
            params={"status": status, "kind": kind, "limit": min(limit, MAX_PAGE_SIZE), "cursor": cursor,
                    "order": "newest" if newest_first else "oldest"})
        return result

    async def iter_requests(self, status: str | None = None, *, kind: str | None = None,
                            page_size: int = MAX_PAGE_SIZE, newest_first: bool = False) -> AsyncIterator[HitlRequest]:
        """Every matching request, a page at a time: none twice, none skipped, while others change."""
        cursor: str | None = None
        while True:
            page = await self.requests_page(status, kind=kind, limit=page_size, cursor=cursor,
                                            newest_first=newest_first)
            for request in page.requests:
                yield request
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def list_requests(self, status: str | None = None, *, kind: str | None = None,
                            limit: int | None = None, newest_first: bool = False) -> list[HitlRequest]:
        """Requests filtered by status and kind, at most ``limit`` of them (None: all), read page by page."""
        found: list[HitlRequest] = []
        page_size = MAX_PAGE_SIZE if limit is None else max(1, min(limit, MAX_PAGE_SIZE))
        async for request in self.iter_requests(status, kind=kind, page_size=page_size, newest_first=newest_first):
            found.append(request)
            if limit is not None and len(found) >= limit:
                break
        return found

    async def answer(self, request_id: str, response: str) -> HitlRequest:
        """Answer a pending request."""
        result: HitlRequest = await self._call("POST", f"/api/v1/hitl/requests/{request_id}/answer",
                                               HitlRequest, body=AnswerCreate.model_construct(response=response,
                                                                                              via=self.via))
        return result

    async def cancel(self, request_id: str, reason: CancelChoice | None = None) -> HitlRequest:
        """Cancel a pending request (the relay words the reason from the credential when none is given)."""
        body = None if reason is None else CancelCreate.model_construct(reason=reason)
        result: HitlRequest = await self._call("POST", f"/api/v1/hitl/requests/{request_id}/cancel", HitlRequest,
                                               body=body, timeout=10)
        return result

    async def withdraw(self, request_id: str) -> bool:
        """The asking agent takes its question back (``agent_cancelled``); False when it had
        already been answered, expired or cancelled."""
        try:
            await self.cancel(request_id, "agent_cancelled")
        except (RequestClosedError, NotFoundError):
            return False
        return True

    def event_stream(self, since: int | None = None) -> EventStream:
        """Follow the relay's events, reconnecting with ``since`` after a drop."""
        return EventStream(self, since)

    async def health(self) -> Health:
        """The relay's health answer."""
        result: Health = await self._call("GET", "/healthz", Health, timeout=5)
        return result


def _q(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def answer_deadline(request: HitlRequest) -> float | None:
    """A monotonic deadline: the request's expiry plus a grace period for relay restarts."""
    return None if request.expires_at is None else answer_deadline_at(request.expires_at.timestamp())
