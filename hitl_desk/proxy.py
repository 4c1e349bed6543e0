"""``hitl-desk proxy``: a stdio MCP server that agents spawn, speaking plaintext to the agent
and only ciphertext to the relay.

Claude Desktop, Claude Code, Cursor… start it as a local MCP server.  Its tools look like the
relay's own (``request_human_input``, ``notify_human``, ``notify_human_completion``), but each
call seals the content for the desk key here, on the agent's machine, sends the envelope to the
relay's E2EE routes, and opens and checks the sealed answer before returning it.  While a call
waits for the human it reports progress, so no client idles out; a cancelled call cancels its
request on the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from hitl_desk.client import RelayClient
from hitl_desk.e2ee import AgentEncryption
from hitl_desk.errors import HitlError
from hitl_desk.models import HitlRequest
from hitl_desk.settings import Settings

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 20.0

INSTRUCTIONS = (
    "Ask the human through these tools whenever you need a decision, a clarification or an "
    "approval, and report finished tasks with notify_human_completion. Content is end-to-end "
    "encrypted: only the human's devices can read it.")


async def _with_progress(work: Awaitable[str], ctx: Context, interval: float) -> str:
    task: asyncio.Future[str] = asyncio.ensure_future(work)
    waited = 0.0
    while True:
        done, _ = await asyncio.wait({task}, timeout=interval)
        if done:
            return task.result()
        waited += interval
        await ctx.report_progress(progress=waited, message=f"waiting for the human ({int(waited)} s)")


def _hints(title: str) -> ToolAnnotations:
    # As honest as the relay's own tools (relay.mcp.texts.tool_hints): additive, never destructive,
    # closed world; so Codex runs them without asking per call.
    return ToolAnnotations(title=title, read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                           open_world_hint=False)


def build_server(agent: AgentEncryption, *, progress_interval: float = PROGRESS_INTERVAL) -> MCPServer:
    """The proxy's MCP server, around an agent's encryption end."""
    server = MCPServer("hitl-desk-e2ee-proxy", instructions=INSTRUCTIONS, log_level="WARNING")

    async def ask(ctx: Context, prompt: str, **kwargs: Any) -> str:
        created: list[HitlRequest] = []
        try:
            return await _with_progress(agent.ask(prompt, on_created=created.append, **kwargs), ctx,
                                        progress_interval)
        except asyncio.CancelledError:
            if created:
                with contextlib.suppress(HitlError):
                    await asyncio.shield(agent.client.cancel(created[0].id))
            raise
        except HitlError as exc:
            raise ToolError(exc.message) from exc

    @server.tool(title="Ask the human", annotations=_hints("Ask the human"), structured_output=False)
    async def request_human_input(prompt: str, ctx: Context, choices: list[str] | None = None,
                                  placeholder_text: str | None = None,
                                  timeout_seconds: float | None = None) -> str:
        """Ask the human a question and wait for the answer (up to 15 minutes).

        Give `choices` when the answer is one of a few options; the human may still type free
        text. Returns the human's answer verbatim. The question travels end-to-end encrypted.
        """
        return await ask(ctx, prompt, choices=choices, placeholder=placeholder_text,
                         timeout_seconds=timeout_seconds)

    @server.tool(title="Report a finished task", annotations=_hints("Report a finished task"),
                 structured_output=False)
    async def notify_human_completion(summary: str, ctx: Context, timeout_seconds: float | None = None) -> str:
        """Tell the human a task is finished and wait for their reply (feedback or next steps)."""
        return await ask(ctx, summary, kind="completion", timeout_seconds=timeout_seconds)

    @server.tool(title="Notify the human", annotations=_hints("Notify the human"), structured_output=False)
    async def notify_human(message: str) -> str:
        """Send the human a notification that needs no answer; returns at once."""
        try:
            await agent.notify(message)
        except HitlError as exc:
            raise ToolError(exc.message) from exc
        return "Notification sent (end-to-end encrypted)."

    return server


async def serve(url: str | None, agent_name: str | None, settings: Settings | None = None, *,
                progress_interval: float = PROGRESS_INTERVAL) -> int:
    """Run the proxy on stdin/stdout until the agent closes it."""
    settings = settings or Settings.from_env()
    async with RelayClient.for_agent(settings, url) as client:
        server = build_server(AgentEncryption(client, settings, agent_name), progress_interval=progress_interval)
        await server.run_stdio_async()
    return 0
