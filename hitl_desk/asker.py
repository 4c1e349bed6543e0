"""The agent's side of the relay on the standard library alone: ask, notify, wait, withdraw.

Agent-side commands (``request``, ``notify``, ``notify-completion``, ``cancel``, command hooks)
start a process per call, often one per tool call of an agent: importing aiohttp and pydantic
would cost them more than all the rest of the work.  So they speak to the relay through this
small synchronous client (``http.client`` and ``json``), with the same rules as the async
``RelayClient``: catalog errors from the relay's JSON, ``RelayUnavailableError`` when nothing
answers, long polls of ``POLL_CHUNK`` seconds that resume by id across relay restarts.

Requests are the relay's JSON objects (the ``HitlRequest`` wire model, as plain dicts).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from hitl_desk.errors import (
    AuthenticationError,
    HitlError,
    KeyMissingError,
    NotFoundError,
    RelayUnavailableError,
    RequestClosedError,
    error_from_payload,
)
from hitl_desk.lifecycle import FINAL_STATUSES, POLL_CHUNK, answer_deadline_at, failure
from hitl_desk.settings import Settings

Request = dict[str, Any]
"""A request as the relay sends it (the fields of ``hitl_desk.models.HitlRequest``)."""

CONNECT_TIMEOUT = 5.0
MAX_BACKOFF = 2.0
NO_DESK_KEY = "No desk key is registered yet: open an approver (hitl-desk tui) once."


class Asker:
    """Synchronous access to one relay with one agent credential (or the owner's)."""

    def __init__(self, base_url: str, credential: str | None = None, *, timeout: float = 60.0,
                 missing_credential: str | None = None, renew: Callable[[], str | None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self._renew = renew  # a fresh credential after a 401 (a `hitl-desk login` token, refreshed)
        self._missing_credential = missing_credential  # the message for a 401 when we sent none
        self._timeout = timeout
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host, self._port, self._prefix = parts.hostname or "", parts.port, parts.path
        self._conn: http.client.HTTPConnection | None = None

    @classmethod
    def for_agent(cls, settings: Settings | None = None, url: str | None = None) -> Asker:
        """An asker with ``HITL_API_KEY`` if set, else ``hitl-desk login``'s token, else the owner's."""
        from hitl_desk.signin import agent_credential

        settings = settings or Settings.from_env()
        credential, renew = agent_credential(settings)
        return cls(url or settings.server_url, credential, renew=renew,
                   missing_credential=settings.missing_credential_message(agent=True))

    def __enter__(self) -> Asker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = kind(self._host, self._port, timeout=CONNECT_TIMEOUT)
            self._conn.connect()
        assert self._conn.sock is not None
        self._conn.sock.settimeout(timeout)
        return self._conn

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             params: dict[str, Any] | None = None, timeout: float | None = None, renewed: bool = False) -> Any:
        """One HTTP call; the parsed JSON answer, or the catalog error the relay answered with.

        ``None`` values are left out of the body and the query: the relay applies its defaults
        (and it validates the body: the client never pre-empts its catalog error).
        """
        query = urlencode({k: _q(v) for k, v in (params or {}).items() if v is not None})
        target = self._prefix + path + (f"?{query}" if query else "")
        headers = {"Accept": "application/json"}
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        data = None
        if body is not None:
            data = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn = self._connection(timeout or self._timeout)
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            status, text = resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RelayUnavailableError(f"No relay answered at {self.base_url} ({exc.__class__.__name__}).") from None
        except BaseException:  # Ctrl+C mid-call: the connection is mid-answer, the next call needs a new one
            self.close()
            raise
        if resp.will_close:
            self.close()
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None  # not the relay's JSON: the status decides the error below
            if status < 400:
                raise HitlError(f"The answer from {self.base_url} is not JSON: is it a hitl-desk relay?") from None
        if status == 401 and self._renew is not None and not renewed:  # the signed-in token expired
            fresh = self._renew()
            if fresh and fresh != self.credential:
                self.credential = fresh
                return self.call(method, path, body, params=params, timeout=timeout, renewed=True)
        if status == 401 and self.credential is None and self._missing_credential:
            raise AuthenticationError(self._missing_credential)
        if status >= 400:
            raise error_from_payload(status, payload)
        return payload

    # -- asking -----------------------------------------------------------------------------------

    def create(self, path: str, body: dict[str, Any]) -> Request:
        """POST a question with ``wait=false`` (``/api/v1/hitl/request``, ``complete``, their
        ``/e2ee`` forms); the pending request, at once."""
        created: Request = self.call("POST", path, {**body, "wait": False})
        return created

    def notify(self, path: str, body: dict[str, Any]) -> Request:
        """POST a notification (``/api/v1/hitl/notify`` or its ``/e2ee`` form); the delivered request."""
        sent: Request = self.call("POST", path, body)["request"]
        return sent

    def get(self, request_id: str, *, wait: float = 0) -> Request:
        """A request's state, long-polling up to ``wait`` seconds for a final one."""
        found: Request = self.call("GET", f"/api/v1/hitl/requests/{request_id}", params={"wait": wait or None},
                                   timeout=wait + self._timeout)
        return found

    def wait_for_answer(self, request_id: str, *, deadline: float | None = None) -> Request:
        """Block until the request is final, resuming by id across relay restarts.

        ``deadline`` is a ``time.monotonic()`` value; past it the current state is returned.
        """
        delay = 0.05
        while True:
            remaining = POLL_CHUNK if deadline is None else deadline - time.monotonic()
            try:
                request = self.get(request_id, wait=max(0.0, min(POLL_CHUNK, remaining)))
            except RelayUnavailableError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                time.sleep(delay)  # back-off between reconnection attempts
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = 0.05
            if request["status"] in FINAL_STATUSES or (deadline is not None and time.monotonic() >= deadline):
                return request

    def cancel(self, request_id: str, reason: str | None = None) -> Request:
        """Cancel a pending request (the relay words the reason from the credential when none is given)."""
        done: Request = self.call("POST", f"/api/v1/hitl/requests/{request_id}/cancel",
                                  None if reason is None else {"reason": reason}, timeout=10)
        return done

    def withdraw(self, request_id: str) -> bool:
        """The asking agent takes its question back (``agent_cancelled``); False when it had
        already been answered, expired or cancelled."""
        try:
            self.cancel(request_id, "agent_cancelled")
        except (RequestClosedError, NotFoundError):
            return False
        return True

    # -- end-to-end encryption ----------------------------------------------------------------

    def desk_public_key(self) -> str:
        """The desk's public key as the relay serves it (``KeyMissingError`` when none)."""
        keys = self.call("GET", "/api/v1/keys/user")
        if not keys:
            raise KeyMissingError(NO_DESK_KEY)
        return str(keys[0]["public_key"])

    def register_key(self, entity_id: str | None, public_key: str) -> None:
        """Register this agent's public key (``entity_id``: an agent name, else the caller's agent)."""
        self.call("POST", "/api/v1/keys/register",
                  {"entity_type": "agent", "entity_id": entity_id, "public_key": public_key})


def _q(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def timestamp(value: str) -> float:
    """A wire time (ISO 8601 UTC) as a Unix time."""
    from datetime import datetime  # only the commands that wait read times

    return datetime.fromisoformat(value).timestamp()


def answer_deadline(request: Request) -> float | None:
    """A monotonic deadline: the request's expiry plus a grace period for relay restarts."""
    expires = request.get("expires_at")
    return None if expires is None else answer_deadline_at(timestamp(expires))


def outcome(request: Request) -> str:
    """What the asking caller gets: the answer text, or the catalog error raised (expired, cancelled)."""
    error = failure(request["id"], request["status"], request.get("response"))
    if error is not None:
        raise error
    return str(request.get("response") or "")
