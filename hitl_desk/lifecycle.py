"""The request lifecycle as an asking caller sees it: which states are final, what a request
that ended without an answer raises, and how long to keep waiting for one.

Kept free of pydantic and aiohttp: the wire models (``HitlRequest``), the async client and the
light agent-side client (``hitl_desk.asker``) all read these rules from here.
"""

from __future__ import annotations

import time

from hitl_desk.errors import HitlError, RequestCancelledError, RequestExpiredError

FINAL_STATUSES: frozenset[str] = frozenset({"answered", "expired", "cancelled", "delivered"})
POLL_CHUNK = 30.0
"""Seconds of one long-poll for a request's final state (then ask again: no proxy idles out)."""
RESUME_GRACE = 60.0
"""Seconds past a request's expiry that a waiting caller keeps resuming across relay restarts."""


def new_request_id() -> str:
    """A fresh, unguessable request id (relay-made, or client-made to bind it inside an envelope)."""
    import secrets  # hmac, hashlib, random: only the callers that make ids pay for them

    return "req_" + secrets.token_hex(10)


def failure(request_id: str, status: str, response: str | None) -> HitlError | None:
    """The catalog error an asking caller gets for a request in ``status``, None when it has an
    answer (the human's, or the default answer an expired request fell back to)."""
    if status == "answered" or (status == "expired" and response is not None):
        return None
    if status == "expired":
        return RequestExpiredError(f"Nobody answered request {request_id} before it expired.")
    if status == "cancelled":
        return RequestCancelledError(f"Request {request_id} was cancelled.")
    return RequestExpiredError(f"Request {request_id} is still {status}; gave up waiting.")


def answer_deadline_at(expires_at: float | None) -> float | None:
    """A ``time.monotonic()`` deadline from a request's expiry (a Unix time): the expiry plus a
    grace period for relay restarts; None when the request does not expire."""
    if expires_at is None:
        return None
    return time.monotonic() + max(0.0, expires_at - time.time()) + RESUME_GRACE
