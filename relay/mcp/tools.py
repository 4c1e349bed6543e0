"""The MCP tools and prompt as the server registers them: thin calls into ``relay.mcp.desk``.

Each tool validates its arguments into the same wire model the REST routes use and hands it to
the ``Desk``, which runs the call; the words the model reads live in ``relay.mcp.texts``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from hitl_desk import __version__
from hitl_desk.models import CompletionCreate, InputRequestCreate, NotificationCreate
from relay.mcp.desk import Desk, arguments
from relay.mcp.texts import (
    ASK,
    COMPLETE,
    COMS_ONLY,
    INSTRUCTIONS,
    NOTIFY,
    AgentNameArg,
    ChoicesArg,
    DefaultAnswerArg,
    PlaceholderArg,
    PromptArg,
    TimeoutArg,
    tool_hints,
)


def build_server(desk: Desk) -> MCPServer:
    """The MCP server: the three plaintext tools and one prompt, all plain text, no output schemas.

    ``relay.mcp.sealed.add_sealed_tools`` adds their end-to-end encrypted variants.
    """
    root = logging.getLogger()
    # MCPServer's constructor calls logging.basicConfig with a Rich handler. With a handler on
    # the root logger that call does nothing, so the relay's own logging stays in charge.
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        server: MCPServer = MCPServer("hitl-desk", title="hitl-desk", version=__version__, instructions=INSTRUCTIONS)
    finally:
        root.removeHandler(placeholder)

    @server.tool(name="request_human_input", title="Ask the human", annotations=tool_hints("Ask the human"),
                 description=ASK, structured_output=False)
    async def request_human_input(prompt: PromptArg, ctx: Context, choices: ChoicesArg = None,
                                  placeholder_text: PlaceholderArg = None, agent_name: AgentNameArg = None,
                                  timeout_seconds: TimeoutArg = None, default_answer: DefaultAnswerArg = None) -> str:
        body = arguments(InputRequestCreate, prompt=prompt, choices=choices, placeholder_text=placeholder_text,
                         agent_name=agent_name, timeout_seconds=timeout_seconds, default_answer=default_answer)
        return await desk.ask(ctx, body)

    @server.tool(name="notify_human", title="Notify the human", annotations=tool_hints("Notify the human"),
                 description=NOTIFY, structured_output=False)
    async def notify_human(message: Annotated[str, Field(description="The notification, in Markdown.")],
                           ctx: Context, agent_name: AgentNameArg = None) -> str:
        return await desk.notify(ctx, arguments(NotificationCreate, message=message, agent_name=agent_name))

    @server.tool(name="notify_human_completion", title="Report a finished task",
                 annotations=tool_hints("Report a finished task"), description=COMPLETE, structured_output=False)
    async def notify_human_completion(
            summary: Annotated[str, Field(description="What you did and what, if anything, is left, in Markdown.")],
            ctx: Context, agent_name: AgentNameArg = None) -> str:
        return await desk.complete(ctx, arguments(CompletionCreate, summary=summary, agent_name=agent_name))

    @server.prompt(name="hitl_coms_only", title="Talk to me only through hitl-desk",
                   description="Route all further communication with the user through the hitl-desk tools.")
    def hitl_coms_only() -> str:
        return COMS_ONLY

    return server
