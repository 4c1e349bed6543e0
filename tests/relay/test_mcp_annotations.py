"""Every relay MCP tool carries honest annotations, read back through a real MCP client session."""

from __future__ import annotations

import pytest

from tests.conftest import LiveRelay
from tests.relay.test_mcp import MODES, agent_key, mcp_client  # noqa: F401  (agent_key: a fixture)

TOOLS = {"request_human_input", "notify_human", "notify_human_completion", "request_human_input_e2ee",
         "notify_human_e2ee"}


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_says_it_is_titled_additive_and_closed_world(relay: LiveRelay, agent_key: str,
                                                                      mode: str) -> None:
    async with mcp_client(relay.url + "/mcp", agent_key, mode) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert tool.annotations is not None, tool.name
        # The camelCase keys as they travel in tools/list, the ones Codex reads to skip approval.
        wire = tool.annotations.model_dump(by_alias=True, exclude_none=True)
        assert wire == {"title": tool.title, "readOnlyHint": False, "destructiveHint": False,
                        "idempotentHint": False, "openWorldHint": False}, tool.name
        assert tool.title and tool.title.startswith(("Ask the human", "Notify the human", "Report a finished task"))
