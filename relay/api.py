"""REST routes under ``/api/v1``: parse → call the broker or auth → respond with a wire model."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from hitl_desk import __version__
from hitl_desk.errors import (
    AgentExistsError,
    ApiKeyNotFoundError,
    InvalidRequestError,
    PermissionDeniedError,
    RequestClosedError,
    RequestNotFoundError,
    TooManyPendingError,
)
from hitl_desk.models import (
    DEFAULT_PAGE_SIZE,
    FALLBACK_AGENT,
    MAX_PAGE_SIZE,
    MAX_TIMEOUT_SECONDS,
    Agent,
    AgentCreate,
    AnswerCreate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyInfo,
    ApiKeyList,
    CancelCreate,
    CancelReason,
    CompletionCreate,
    Health,
    HitlRequest,
    InputRequestCreate,
    NotificationCreate,
    NotifyResult,
    OwnerTokenRotated,
    RequestPage,
    Status,
)
from hitl_desk.settings import Settings
from relay.auth import Principal
from relay.broker import Broker
from relay.context import AUTH, BROKER, CONFIG, owner_of, principal_of
from relay.departure import HANGUPS
from relay.events import CLOSE_REVOKED, close_sockets
from relay.http import METRICS, json_response, parse_body, parse_query
from relay.openapi import RouteTable

routes = RouteTable()
Body = TypeVar("Body", InputRequestCreate, CompletionCreate)
BLOCKING_ERRORS = (TooManyPendingError,)


ACCEPTED = ((202, "Accepted, not waited for (wait=false in the query or the body): the request, still pending; "
                  "read its answer later with GET /api/v1/hitl/requests/{request_id}."),)
"""The create routes' other success: what ``wait=false`` answers."""


class WaitFlag(BaseModel):
    """Query of the create routes: ``wait=false`` returns the pending request at once."""

    wait: bool | None = None


class WaitQuery(BaseModel):
    """Query of the status route: long-poll up to ``wait`` seconds for a final state."""

    wait: float = Field(default=0, ge=0, le=MAX_TIMEOUT_SECONDS)


class RequestListQuery(BaseModel):
    """Query of the list route: filters, a page size (over 500 is a 422) and the cursor of a
    previous page's ``next_cursor``."""

    status: Status | None = None
    kind: Literal["input", "completion", "notification"] | None = None
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    order: Literal["oldest", "newest"] = "oldest"
    cursor: str | None = Field(default=None, max_length=64,
                               description="Opaque: the next_cursor of the previous page, with the same filters.")


_CURSOR_PREFIX = "r1."


def _cursor(row_key: int | None) -> str | None:
    if row_key is None:
        return None
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_key}".encode()).decode().rstrip("=")


def _row_key(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if text.startswith(_CURSOR_PREFIX):
            return int(text[len(_CURSOR_PREFIX):])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass  # answered below, like any other cursor this relay did not make
    raise InvalidRequestError("cursor: not a cursor this relay gave out; start again without one.",
                              details=[{"loc": ["query", "cursor"], "msg": "unknown cursor"}])


async def _visible(request: web.Request, principal: Principal) -> HitlRequest:
    found = await request.app[BROKER].get(request.match_info["request_id"])
    if principal.agent is not None and found.agent_id != principal.agent.id:
        raise RequestNotFoundError(f"No request has the id {found.id!r}.")
    return found


async def _create_and_wait(request: web.Request, model: type[Body],
                           create: Callable[[Broker, Agent, Body, bool], Awaitable[HitlRequest]]) -> web.Response:
    principal = await principal_of(request)
    body = await parse_body(request, model)
    flag = parse_query(request, WaitFlag).wait
    agent = await request.app[AUTH].agent_for(principal, body.agent_name, FALLBACK_AGENT)
    wait = body.wait if flag is None else flag
    created = await create(request.app[BROKER], agent, body, wait)
    if not wait:
        return json_response(created, status=202)
    return await respond_when_final(request, created.id, None, current=created)


async def wait_attended(request: web.Request, request_id: str, timeout: float | None, *,
                        current: HitlRequest | None = None) -> HitlRequest | None:
    """Block a REST caller on the request: its final state, or its state after ``timeout``.

    None when the caller hung up first: the broker hears it left, and the request stays pending
    for the grace period, for the caller to come back by id.
    """
    broker = request.app[BROKER]
    with request.app[HANGUPS].watching(request) as gone:
        try:
            # Awaited here, not in a task of its own raced against the hang-up: the answer then
            # reaches the caller two turns of the loop sooner (bench/core_bench.py).
            return await broker.wait(request_id, timeout, current=current, attend=True, gone=gone)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not gone.done() or gone.cancelled() or (task is not None and task.cancelling()):
                raise  # cancelled from outside, not by the hang-up
    broker.caller_left(request_id)
    return None


async def respond_when_final(request: web.Request, request_id: str, timeout: float | None, *,
                             current: HitlRequest | None = None) -> web.Response:
    """``wait_attended`` as a response (an empty one when nobody is left to read it)."""
    done = await wait_attended(request, request_id, timeout, current=current)
    return web.Response(status=204) if done is None else json_response(done)


@routes.route("POST", "/api/v1/hitl/request", summary="Ask the human a question.",
              body=InputRequestCreate, query=WaitFlag, response=HitlRequest, also=ACCEPTED, errors=BLOCKING_ERRORS,
              tags=("requests",))
async def create_request(request: web.Request) -> web.Response:
    return await _create_and_wait(request, InputRequestCreate,
                                  lambda broker, agent, body, wait: broker.create_input(agent, body, attended=wait))


@routes.route("POST", "/api/v1/hitl/complete", summary="Report a finished task and wait for the reply.",
              body=CompletionCreate, query=WaitFlag, response=HitlRequest, also=ACCEPTED, errors=BLOCKING_ERRORS,
              tags=("requests",))
async def create_completion(request: web.Request) -> web.Response:
    return await _create_and_wait(
        request, CompletionCreate,
        lambda broker, agent, body, wait: broker.create_completion(agent, body, attended=wait))


@routes.route("POST", "/api/v1/hitl/notify", summary="Send the human a notification (fire and forget).",
              body=NotificationCreate, response=NotifyResult, tags=("requests",))
async def create_notification(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    body = await parse_body(request, NotificationCreate)
    agent = await request.app[AUTH].agent_for(principal, body.agent_name, FALLBACK_AGENT)
    return json_response(NotifyResult(request=await request.app[BROKER].notify(agent, body)))


@routes.route("GET", "/api/v1/hitl/requests",
              summary="List requests a page at a time (an agent sees its own); follow next_cursor.",
              query=RequestListQuery, response=RequestPage, tags=("requests",))
async def list_requests(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    query = parse_query(request, RequestListQuery)
    found, last = await request.app[BROKER].page(
        query.status, kind=query.kind, limit=query.limit, after=_row_key(query.cursor),
        newest_first=query.order == "newest", agent_id=principal.agent.id if principal.agent else None)
    return json_response(RequestPage(requests=found, next_cursor=_cursor(last)))


@routes.route("GET", "/api/v1/hitl/requests/{request_id}", summary="A request's state; ?wait=S long-polls.",
              query=WaitQuery, response=HitlRequest, errors=(RequestNotFoundError,), tags=("requests",))
async def get_request(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    query = parse_query(request, WaitQuery)
    found = await _visible(request, principal)
    if query.wait > 0 and not found.is_final:
        return await respond_when_final(request, found.id, query.wait)
    return json_response(found)


@routes.route("POST", "/api/v1/hitl/requests/{request_id}/answer", summary="Answer a pending request.",
              body=AnswerCreate, response=HitlRequest, auth="owner",
              errors=(RequestNotFoundError, RequestClosedError), tags=("requests",))
async def answer_request(request: web.Request) -> web.Response:
    principal = await owner_of(request)
    body = await parse_body(request, AnswerCreate)
    answered = await request.app[BROKER].answer(request.match_info["request_id"], body.response, principal.label,
                                                encrypted_response=body.encrypted_response, via=body.via)
    await asyncio.sleep(0)  # the agent waiting on it hears first: its answer goes out before this reply
    return json_response(answered)


@routes.route("POST", "/api/v1/hitl/requests/{request_id}/cancel",
              summary="Cancel a pending request (the asking agent withdraws it, or the owner dismisses it).",
              body=CancelCreate, body_required=False, response=HitlRequest,
              errors=(RequestNotFoundError, RequestClosedError, PermissionDeniedError),
              tags=("requests",))
async def cancel_request(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    reason = (await parse_body(request, CancelCreate)).reason if request.body_exists else None
    found = await _visible(request, principal)
    if principal.agent is not None and reason == "dismissed":
        raise PermissionDeniedError("Only the owner dismisses a request; an agent withdraws it (agent_cancelled).")
    default: CancelReason = "agent_cancelled" if principal.agent is not None else "dismissed"
    return json_response(await request.app[BROKER].cancel(found.id, principal.label, reason or default))


@routes.route("GET", "/api/v1/agents", summary="List agents.", response=Agent, response_is_list=True,
              tags=("agents",))
async def list_agents(request: web.Request) -> web.Response:
    await principal_of(request)
    return json_response(await request.app[AUTH].list_agents())


@routes.route("POST", "/api/v1/agents", summary="Register an agent.", body=AgentCreate, response=Agent,
              status=201, errors=(AgentExistsError,), tags=("agents",))
async def create_agent(request: web.Request) -> web.Response:
    await principal_of(request)
    body = await parse_body(request, AgentCreate)
    return json_response(await request.app[AUTH].register_agent(body.name), status=201)


@routes.route("POST", "/api/v1/api-keys", summary="Mint an API key for an agent (shown once).",
              body=ApiKeyCreate, response=ApiKeyCreated, status=201, auth="owner", tags=("api-keys",))
async def create_api_key(request: web.Request) -> web.Response:
    await owner_of(request)
    body = await parse_body(request, ApiKeyCreate)
    return json_response(await request.app[AUTH].create_api_key(body.agent_name, body.label), status=201)


@routes.route("GET", "/api/v1/api-keys", summary="List API keys (prefixes only).", response=ApiKeyList,
              auth="owner", tags=("api-keys",))
async def list_api_keys(request: web.Request) -> web.Response:
    await owner_of(request)
    return json_response(ApiKeyList(api_keys=await request.app[AUTH].list_api_keys()))


@routes.route("DELETE", "/api/v1/api-keys/{prefix}", summary="Revoke an API key.", response=ApiKeyInfo,
              auth="owner", errors=(ApiKeyNotFoundError,), tags=("api-keys",))
async def revoke_api_key(request: web.Request) -> web.Response:
    await owner_of(request)
    return json_response(await request.app[AUTH].revoke_api_key(request.match_info["prefix"]))


@routes.route("POST", "/api/v1/owner-token/rotate", summary="Issue a new owner credential; the old one is revoked.",
              response=OwnerTokenRotated, auth="owner", tags=("owner",))
async def rotate_owner_token(request: web.Request) -> web.Response:
    await owner_of(request)
    settings = Settings(home=request.app[CONFIG].home)
    auth = request.app[AUTH]
    await auth.rotate_owner_token(settings)
    # Approver sockets authenticated once, with the credential just revoked: close them too.
    await close_sockets(request.app, CLOSE_REVOKED, b"owner credential rotated")
    return json_response(OwnerTokenRotated(path=str(settings.owner_token_path), issued_at=auth.clock()))


@routes.route("GET", "/healthz", summary="Liveness and the pending count.", response=Health, auth=None,
              tags=("meta",))
async def health(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    pending = await broker.pending_count()
    if not await broker.storage_ok():  # recovers once space returns
        return json_response(Health(status="degraded", version=__version__, pending=pending, storage="full"))
    return json_response(Health(version=__version__, pending=pending))


@routes.route("GET", "/metrics", summary="Prometheus counters.", auth=None, tags=("meta",))
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
