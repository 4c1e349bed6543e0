"""Owner REST routes for always-allow rules and the audit chain: parse → call the broker → respond."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from hitl_desk.audit import AuditPage
from hitl_desk.errors import InvalidRequestError, RuleNotFoundError
from hitl_desk.rules import Rule, RuleCreate, RuleList
from relay.context import AUTH, BROKER, owner_of
from relay.http import json_response, parse_body, parse_query
from relay.openapi import RouteTable
from relay.rules import MAX_AUDIT_PAGE

routes = RouteTable()


class RuleListQuery(BaseModel):
    """Query of the rule list: revoked rules are left out unless asked for."""

    include_revoked: bool = False


class AuditQuery(BaseModel):
    """Query of the audit chain: the entries after ``after``, at most ``limit`` (500 at most)."""

    after: int = Field(default=0, ge=0)
    limit: int = Field(default=MAX_AUDIT_PAGE, ge=1, le=MAX_AUDIT_PAGE)


@routes.route("GET", "/api/v1/rules", summary="List always-allow rules, newest first.", query=RuleListQuery,
              response=RuleList, auth="owner", tags=("rules",))
async def list_rules(request: web.Request) -> web.Response:
    await owner_of(request)
    query = parse_query(request, RuleListQuery)
    return json_response(RuleList(rules=await request.app[BROKER].rules.list_rules(
        include_revoked=query.include_revoked)))


@routes.route("POST", "/api/v1/rules", summary="Add an always-allow rule for one agent and tool.",
              body=RuleCreate, response=Rule, status=201, auth="owner", errors=(InvalidRequestError,),
              tags=("rules",))
async def add_rule(request: web.Request) -> web.Response:
    principal = await owner_of(request)
    body = await parse_body(request, RuleCreate)
    agent = await request.app[AUTH].ensure_agent(body.agent)
    return json_response(await request.app[BROKER].rules.add(agent, body, principal.label), status=201)


@routes.route("DELETE", "/api/v1/rules/{rule_id}", summary="Revoke an always-allow rule at once.",
              response=Rule, auth="owner", errors=(RuleNotFoundError,), tags=("rules",))
async def revoke_rule(request: web.Request) -> web.Response:
    principal = await owner_of(request)
    return json_response(await request.app[BROKER].rules.revoke(request.match_info["rule_id"], principal.label))


@routes.route("GET", "/api/v1/audit", summary="Read the hash-chained audit log a page at a time.",
              query=AuditQuery, response=AuditPage, auth="owner", tags=("audit",))
async def audit(request: web.Request) -> web.Response:
    await owner_of(request)
    query = parse_query(request, AuditQuery)
    entries = await request.app[BROKER].rules.audit(query.after, query.limit)
    more = len(entries) == query.limit
    return json_response(AuditPage(entries=entries, next_after=entries[-1].seq if more else None))
