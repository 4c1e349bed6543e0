"""The life of an MCP tool call: resolve the asking agent, hand the request to the broker, wait.

For questions the call waits for the human while sending progress so no client idles out.  A
call that is cancelled, or whose HTTP request goes away, withdraws its request, so approvers
see it go.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from hitl_desk.errors import (
    InvalidRequestError,
    RequestClosedError,
    RequestExpiredError,
    TooManyPendingError,
)
from hitl_desk.models import (
    MAX_NAME_CHARS,
    Agent,
    CancelReason,
    CompletionCreate,
    HitlRequest,
    InputRequestCreate,
    NotificationCreate,
)
from relay.auth import Principal
from relay.broker import Broker
from relay.context import AUTH, BROKER, CONFIG
from relay.http import describe, validate
from relay.mcp.caller import McpCall, call_of

log = logging.getLogger(__name__)

MCP_FALLBACK_AGENT = "mcp-client"
"""The agent an MCP call is filed under when neither it nor its client names one."""
NOTIFIED = "Notification sent"
LEFT: CancelReason = "agent_left"
"""The reason of every withdrawal on hang-up or cancel, REST's after its grace period too."""

Create = Callable[[Broker, Agent], Awaitable[HitlRequest]]
"""Makes the request for a tool call, given the broker and the calling agent."""


class CallerLeftError(Exception):
    """The HTTP request carrying the tool call ended before the human answered."""


class Desk:
    """Turns tool calls into broker requests; reads the relay's parts lazily, at call time."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self.closing = False
        self._withdrawals: set[asyncio.Task[None]] = set()

    async def shutdown(self, app: web.Application | None = None) -> None:
        """Relay shutdown: calls end, but their requests stay pending (they survive a restart)."""
        self.closing = True

    async def ask(self, ctx: Context, body: InputRequestCreate) -> str:
        """Put a question to the human and return the answer."""
        return answer_text(await self.ask_with(ctx, body.agent_name,
                                               lambda broker, agent: broker.create_input(agent, body, attended=True)))

    async def complete(self, ctx: Context, body: CompletionCreate) -> str:
        """Report a finished task and return the human's reply."""
        return answer_text(await self.ask_with(
            ctx, body.agent_name, lambda broker, agent: broker.create_completion(agent, body, attended=True)))

    async def notify(self, ctx: Context, body: NotificationCreate) -> str:
        """Deliver a notification."""
        await self.send_with(ctx, body.agent_name, lambda broker, agent: broker.notify(agent, body))
        return NOTIFIED

    async def ask_with(self, ctx: Context, agent_name: str | None, create: Create) -> HitlRequest:
        """Create a request for the calling agent and return it once final (answered, expired, dismissed)."""
        call = call_of(ctx)
        agent = await self._agent(ctx, call, agent_name)
        try:
            created = await create(self._app[BROKER], agent)
        except TooManyPendingError as exc:
            raise ToolError(f"{exc.message} ({exc.code})") from None
        return await self._wait(ctx, call, created)

    async def send_with(self, ctx: Context, agent_name: str | None, create: Create) -> HitlRequest:
        """Create a request that nobody answers (a notification) for the calling agent."""
        call = call_of(ctx)
        return await create(self._app[BROKER], await self._agent(ctx, call, agent_name))

    async def _agent(self, ctx: Context, call: McpCall, agent_name: str | None) -> Agent:
        return await self._app[AUTH].agent_for(call.principal, agent_name, client_name(ctx) or MCP_FALLBACK_AGENT)

    async def _wait(self, ctx: Context, call: McpCall, request: HitlRequest) -> HitlRequest:
        """The final request; withdraws it if the call is cancelled or its caller leaves."""
        try:
            return await self._wait_with_progress(ctx, call, request)
        except CallerLeftError:
            await self._withdraw(request.id, call.principal)
            raise ToolError("The caller went away; the request was withdrawn.") from None
        except BaseException:
            # Cancelled (or broken) mid-wait: the cancellation may strike every await from here
            # on, so the withdrawal runs as a task of its own.
            self._spawn_withdrawal(request.id, call.principal)
            raise

    async def _wait_with_progress(self, ctx: Context, call: McpCall, request: HitlRequest) -> HitlRequest:
        loop = asyncio.get_running_loop()
        interval = self._app[CONFIG].mcp_progress_interval
        total = (request.expires_at - request.created_at).total_seconds() if request.expires_at else None
        # No await since the broker returned `request`, so it is still current; the waiter task
        # registers on the next turn of the loop, before any approver can have heard of it.
        answer = asyncio.ensure_future(self._app[BROKER].wait(request.id, None, current=request))
        left = asyncio.ensure_future(call.left())
        started = loop.time()
        try:
            await ctx.report_progress(progress=0, total=total,
                                      message=f"Asked the human (request {request.id}); waiting for the answer.")
            waiting: set[asyncio.Future[Any]] = {answer, left}
            while True:
                done, _ = await asyncio.wait(waiting, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                if answer in done:
                    return answer.result()
                if left in done:
                    raise CallerLeftError(request.id)
                elapsed = loop.time() - started
                await ctx.report_progress(progress=elapsed, total=total,
                                          message=f"Still waiting for the human ({_duration(elapsed)} so far).")
        finally:
            answer.cancel()
            left.cancel()

    async def _withdraw(self, request_id: str, principal: Principal) -> None:
        if self.closing:
            return
        try:
            # An MCP tool call cannot be resumed by id, so the question goes at once.
            await self._app[BROKER].cancel(request_id, principal.label, LEFT)
        except RequestClosedError:  # answered, expired or dismissed in the same instant
            log.debug("%s closed before it could be withdrawn", request_id)
        except Exception:  # loop boundary: a failed withdrawal is logged, the call still ends
            log.exception("withdrawing %s failed", request_id)

    def _spawn_withdrawal(self, request_id: str, principal: Principal) -> None:
        if self.closing:
            return
        task = asyncio.get_running_loop().create_task(self._withdraw(request_id, principal))
        self._withdrawals.add(task)
        task.add_done_callback(self._withdrawals.discard)


def client_name(ctx: Context) -> str | None:
    """The MCP client's self-reported name, cut to an agent name; None when it sent none."""
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    name = getattr(info, "name", None)
    if not isinstance(name, str):
        return None
    return name.strip()[:MAX_NAME_CHARS].strip() or None


def answer_text(request: HitlRequest) -> str:
    """The human's answer (or the default answer); expiry and dismissal are tool errors."""
    try:
        return request.outcome()
    except RequestExpiredError:
        raise ToolError(
            f"Nobody answered before the request expired (request {request.id}). There is no answer: do not "
            "assume consent. Ask again later, or stop if the step is risky.") from None
    except RequestClosedError:
        raise ToolError(
            f"The human dismissed the request without answering (request {request.id}). Do not assume consent."
        ) from None


def arguments(model: type[BaseModel], **values: Any) -> Any:
    """Validate tool arguments into a wire model; a misfit is a tool error naming each field."""
    try:
        return validate(model, {key: value for key, value in values.items() if value is not None})
    except InvalidRequestError as exc:
        problems = "; ".join(describe(item) for item in exc.details or ())
        raise ToolError(f"Invalid arguments: {problems or exc.message}") from None


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
