"""REST routes under ``/api/v1``: parse → call the broker or auth → respond with a wire model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from hitl_desk import __version__
from hitl_desk.errors import (
    AgentExistsError,
    ApiKeyNotFoundError,
    RequestClosedError,
    RequestNotFoundError,
)
from hitl_desk.models import (
    MAX_TIMEOUT_SECONDS,
    Agent,
    AgentCreate,
    AnswerCreate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyInfo,
    ApiKeyList,
    CompletionCreate,
    Health,
    HitlRequest,
    InputRequestCreate,
    NotificationCreate,
    NotifyResult,
    OwnerTokenRotated,
    RequestList,
    Status,
)
from hitl_desk.settings import Settings
from relay.auth import Principal
from relay.broker import Broker
from relay.context import AUTH, BROKER, CONFIG, STORE, owner_of, principal_of
from relay.events import CLOSE_REVOKED, close_sockets
from relay.http import METRICS, json_response, parse_body, parse_query
from relay.openapi import RouteTable

routes = RouteTable()
FALLBACK_AGENT = "default"
Body = TypeVar("Body", InputRequestCreate, CompletionCreate)


class WaitFlag(BaseModel):
    """Query of the create routes: ``wait=false`` returns the pending request at once."""

    wait: bool | None = None


class WaitQuery(BaseModel):
    """Query of the status route: long-poll up to ``wait`` seconds for a final state."""

    wait: float = Field(default=0, ge=0, le=MAX_TIMEOUT_SECONDS)


class RequestListQuery(BaseModel):
    """Query of the list route."""

    status: Status | None = None
    kind: Literal["input", "completion", "notification"] | None = None
    limit: int = Field(default=100, ge=1, le=10_000)
    order: Literal["oldest", "newest"] = "oldest"


async def _visible(request: web.Request, principal: Principal) -> HitlRequest:
    found = await request.app[BROKER].get(request.match_info["request_id"])
    if principal.agent is not None and found.agent_id != principal.agent.id:
        raise RequestNotFoundError(f"No request has the id {found.id!r}.")
    return found


async def _create_and_wait(request: web.Request, model: type[Body],
                           create: Callable[[Broker, Agent, Body], Awaitable[HitlRequest]]) -> web.Response:
    principal = await principal_of(request)
    body = await parse_body(request, model)
    flag = parse_query(request, WaitFlag).wait
    agent = await request.app[AUTH].agent_for(principal, body.agent_name, FALLBACK_AGENT)
    created = await create(request.app[BROKER], agent, body)
    return await _respond_after_wait(request, created, body.wait if flag is None else flag)


async def _respond_after_wait(request: web.Request, created: HitlRequest, wait: bool) -> web.Response:
    if not wait:
        return json_response(created, status=202)
    # No await since `created` came back from the broker, so it is still the current state.
    return json_response(await request.app[BROKER].wait(created.id, None, current=created))


@routes.route("POST", "/api/v1/hitl/request", summary="Ask the human a question.",
              body=InputRequestCreate, query=WaitFlag, response=HitlRequest, tags=("requests",))
async def create_request(request: web.Request) -> web.Response:
    return await _create_and_wait(request, InputRequestCreate, Broker.create_input)


@routes.route("POST", "/api/v1/hitl/complete", summary="Report a finished task and wait for the reply.",
              body=CompletionCreate, query=WaitFlag, response=HitlRequest, tags=("requests",))
async def create_completion(request: web.Request) -> web.Response:
    return await _create_and_wait(request, CompletionCreate, Broker.create_completion)


@routes.route("POST", "/api/v1/hitl/notify", summary="Send the human a notification (fire and forget).",
              body=NotificationCreate, response=NotifyResult, tags=("requests",))
async def create_notification(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    body = await parse_body(request, NotificationCreate)
    agent = await request.app[AUTH].agent_for(principal, body.agent_name, FALLBACK_AGENT)
    return json_response(NotifyResult(request=await request.app[BROKER].notify(agent, body)))


@routes.route("GET", "/api/v1/hitl/requests", summary="List requests (an agent sees its own).",
              query=RequestListQuery, response=RequestList, tags=("requests",))
async def list_requests(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    query = parse_query(request, RequestListQuery)
    found = await request.app[STORE].list_requests(
        query.status, kind=query.kind, limit=query.limit, newest_first=query.order == "newest",
        agent_id=principal.agent.id if principal.agent else None)
    return json_response(RequestList(requests=found))


@routes.route("GET", "/api/v1/hitl/requests/{request_id}", summary="A request's state; ?wait=S long-polls.",
              query=WaitQuery, response=HitlRequest, errors=(RequestNotFoundError,), tags=("requests",))
async def get_request(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    query = parse_query(request, WaitQuery)
    found = await _visible(request, principal)
    if query.wait > 0 and not found.is_final:
        found = await request.app[BROKER].wait(found.id, query.wait)
    return json_response(found)


@routes.route("POST", "/api/v1/hitl/requests/{request_id}/answer", summary="Answer a pending request.",
              body=AnswerCreate, response=HitlRequest, auth="owner",
              errors=(RequestNotFoundError, RequestClosedError), tags=("requests",))
async def answer_request(request: web.Request) -> web.Response:
    principal = await owner_of(request)
    body = await parse_body(request, AnswerCreate)
    answered = await request.app[BROKER].answer(request.match_info["request_id"], body.response, principal.label,
                                                encrypted_response=body.encrypted_response)
    return json_response(answered)


@routes.route("POST", "/api/v1/hitl/requests/{request_id}/cancel", summary="Cancel a pending request.",
              response=HitlRequest, errors=(RequestNotFoundError, RequestClosedError), tags=("requests",))
async def cancel_request(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    found = await _visible(request, principal)
    return json_response(await request.app[BROKER].cancel(found.id, principal.label))


@routes.route("GET", "/api/v1/agents", summary="List agents.", response=Agent, response_is_list=True,
              tags=("agents",))
async def list_agents(request: web.Request) -> web.Response:
    await principal_of(request)
    return json_response(await request.app[STORE].list_agents())


@routes.route("POST", "/api/v1/agents", summary="Register an agent.", body=AgentCreate, response=Agent,
              status=201, errors=(AgentExistsError,), tags=("agents",))
async def create_agent(request: web.Request) -> web.Response:
    await principal_of(request)
    body = await parse_body(request, AgentCreate)
    auth = request.app[AUTH]
    if await auth.store.agent_by_name(body.name) is not None:
        raise AgentExistsError(f"An agent named {body.name!r} exists already.")
    return json_response(await auth.ensure_agent(body.name), status=201)


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
    return json_response(ApiKeyList(api_keys=await request.app[STORE].list_api_keys()))


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
    store = request.app[STORE]
    pending = await store.count_requests("pending")
    if store.storage_full and not await store.probe_storage():  # recovers once space returns
        return json_response(Health(status="degraded", version=__version__, pending=pending, storage="full"))
    return json_response(Health(version=__version__, pending=pending))


@routes.route("GET", "/metrics", summary="Prometheus counters.", auth=None, tags=("meta",))
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
