"""HTTP plumbing shared by every route: error middleware, Host/Origin guard, body parsing.

Errors from the catalog become ``{"error": {"code", "message"}, "detail"}`` with their status;
anything else is logged with its traceback and answered 500 ``internal_error``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError

from hitl_desk.errors import (
    AuthenticationError,
    HitlError,
    HostNotAllowedError,
    InternalError,
    InvalidRequestError,
    JsonTooDeepError,
    MalformedJsonError,
    MethodNotAllowedError,
    NotFoundError,
    OriginNotAllowedError,
    PayloadTooLargeError,
)
from hitl_desk.models import ErrorResponse, HitlRequest
from hitl_desk.settings import LOOPBACK_HOSTS
from relay.metrics import Metrics

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def json_response(model: BaseModel | Sequence[BaseModel], status: int = 200) -> web.Response:
    """Serialise a wire model (or a list of them) as the response body."""
    if not isinstance(model, BaseModel):
        body = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    else:  # a request's JSON is made once: it goes to its agent, its approver and the event streams
        body = model.wire_json() if isinstance(model, HitlRequest) else model.model_dump_json()
    return web.Response(text=body, status=status, content_type="application/json")


def error_response(error: HitlError) -> web.Response:
    """The JSON answer for a catalog error (its body from the one builder, ``ErrorResponse.of``)."""
    response = json_response(ErrorResponse.of(error), status=error.status)
    if isinstance(error, AuthenticationError):
        response.headers["WWW-Authenticate"] = 'Bearer realm="hitl-desk"'
    if error.challenge:  # OAuth: where the metadata is, or the scope that is missing
        response.headers["WWW-Authenticate"] = error.challenge
    return response


EMPTY = "must not be empty"
SCHEMA_MISFIT = "The request does not fit the schema."


def _validation_details(exc: ValidationError) -> list[dict[str, object]]:
    details: list[dict[str, object]] = []
    for error in exc.errors(include_url=False, include_input=False):
        # pydantic says "String should have at least 1 character"; people say "empty".
        empty = error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1
        details.append({"loc": list(error["loc"]), "msg": EMPTY if empty else error["msg"], "type": error["type"]})
    return details


def describe(detail: dict[str, object]) -> str:
    """One field error as a phrase: ``prompt must not be empty``, ``choices.0: <pydantic's words>``."""
    field = ".".join(str(part) for part in detail["loc"]) if isinstance(detail["loc"], list) else ""
    return f"{field} {EMPTY}" if detail["msg"] == EMPTY else f"{field}: {detail['msg']}"


def validate(model: type[M], data: object) -> M:
    """Validate data into a wire model, turning failures into ``InvalidRequestError``.

    An empty required text says so in the message (``prompt must not be empty``); other misfits
    keep the general message, with every field in ``details``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = _validation_details(exc)
        empties = [describe(d) for d in details if d["msg"] == EMPTY]
        raise InvalidRequestError("; ".join(empties) if empties else SCHEMA_MISFIT, details=details) from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Read and validate a JSON body; bad JSON, bad Unicode or bad fields are 4xx, never 5xx."""
    raw = await request.read()
    return validate(model, load_json(raw) if raw.strip() else {})


def load_json(raw: bytes | str) -> object:
    """Parse a JSON body or frame; bad JSON, bad Unicode and too-deep nesting are 4xx errors."""
    try:
        data = json.loads(raw)
        # Lone surrogates ("\ud800") parse but cannot be stored or sent on as UTF-8; only a
        # body with a \uD8xx-\uDFxx escape can hold one, so only such a body is re-encoded.
        if _SURROGATE_ESCAPE.search(raw.encode() if isinstance(raw, str) else raw):
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise InvalidRequestError("Strings must be valid Unicode text.") from None
    except ValueError:
        raise MalformedJsonError() from None
    except RecursionError:  # `[` x 100,000: the parser gives up at Python's recursion limit
        raise JsonTooDeepError() from None
    return data


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string into a model."""
    return validate(model, dict(request.query))


def _status_error(exc: web.HTTPException) -> HitlError:
    if exc.status == 404:
        return NotFoundError()
    if exc.status == 405:
        return MethodNotAllowedError()
    if exc.status == 413:
        return PayloadTooLargeError()
    error = HitlError(exc.reason)
    error.status = exc.status  # type: ignore[misc]
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the catalog's JSON shape and count responses by status."""
    metrics = request.app[METRICS]
    try:
        response = await handler(request)
    except HitlError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_status_error(exc))
    except Exception:  # loop boundary: a bug must be logged and answered, never crash the server
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = error_response(InternalError())
    metrics.count_response(response.status)
    return response


@functools.lru_cache(maxsize=256)
def _hostname(url: str) -> str | None:
    """The host name in ``url`` (``//host:port`` for a Host header); remembered, since every
    request of a client sends the same few values and parsing them costs more than the check."""
    return urlsplit(url).hostname if url != "//" else None


def host_guard(allowed: Iterable[str]) -> Middleware:
    """Middleware refusing foreign Host and Origin headers (DNS rebinding, cross-site pages)."""
    names = LOOPBACK_HOSTS | {a.lower() for a in allowed}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host") or ""
        if _hostname(f"//{host.lower()}") not in names:
            raise HostNotAllowedError(f"Host {host.lower()!r} is not served here.")
        origin = request.headers.get("Origin")
        if origin is not None and _hostname(origin) not in names:
            raise OriginNotAllowedError(f"Requests from {origin!r} are not allowed.")
        return await handler(request)

    return guard
