"""Agent hook endpoints: ``POST /api/v1/hooks/{client}/{event}`` takes a client's hook JSON and
answers with the JSON that client reads (``relay.hooks.core`` asks the human).

Claude Code posts here itself (``"type": "http"`` hooks); Codex, Gemini CLI and older Claude
Code run ``hitl-desk hook CLIENT EVENT``, which posts the same JSON here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from hitl_desk.errors import NotFoundError
from hitl_desk.hookwire import HookInput, HookOutput
from relay.context import AUTH, principal_of
from relay.hooks import claude, codex, gemini
from relay.hooks.core import STREAKS, HookCall, HookQuery, StopStreaks
from relay.http import parse_body, parse_query
from relay.openapi import RouteTable

__all__ = ["HANDLERS", "routes", "setup_hooks"]

Handler = Callable[[HookCall, HookInput], Awaitable[HookOutput]]
HANDLERS: dict[str, tuple[str, dict[str, Handler]]] = {
    claude.CLIENT: (claude.NAME, dict(claude.EVENTS)),
    codex.CLIENT: (codex.NAME, dict(codex.EVENTS)),
    gemini.CLIENT: (gemini.NAME, dict(gemini.EVENTS)),
}
"""Client id → (the name the human reads, event → handler)."""

routes = RouteTable()


@routes.route("POST", "/api/v1/hooks/{client}/{event}",
              summary="An agent client's hook: approvals, stop reviews and notifications for the human.",
              body=HookInput, query=HookQuery, response=HookOutput, errors=(NotFoundError,), tags=("hooks",))
async def answer_hook(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    client, event = request.match_info["client"], request.match_info["event"]
    name, events = HANDLERS.get(client, ("", {}))
    handler = events.get(event)
    if handler is None:
        raise NotFoundError(f"No hook {event!r} for client {client!r}; clients: {', '.join(HANDLERS)}.")
    query = parse_query(request, HookQuery)
    payload = await parse_body(request, HookInput)
    agent = await request.app[AUTH].agent_for(principal, None, client)
    output = await handler(HookCall(request, agent, name, query.timeout), payload)
    return web.Response(text=output.wire(), content_type="application/json")


def setup_hooks(app: web.Application) -> None:
    """Give the app the state its hooks keep (stop-review streaks per session)."""
    app[STREAKS] = StopStreaks()
