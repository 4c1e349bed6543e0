"""``hitl-desk mcp-config CLIENT --oauth``: configuration with no key in it, for clients that sign in.

An MCP client that speaks OAuth needs only the endpoint: on the relay's 401 it finds the
metadata, registers itself and sends the human's browser to the consent page (``relay.oauth``).
"""

from __future__ import annotations

import argparse
import json
import sys

from hitl_desk.errors import InvalidRequestError
from hitl_desk.mcpconfig import SERVER_NAME, WAIT_SECONDS, Snippet, mcp_url

OAUTH_CLIENTS = ("claude-code", "cursor", "vscode", "gemini")
"""Clients whose documentation describes OAuth for remote MCP servers."""


def render_oauth(client: str, url: str) -> Snippet:
    """The header-less configuration for one client; ``url`` is the MCP endpoint."""
    if client == "claude-code":
        return Snippet(f"claude mcp add --transport http {SERVER_NAME} {url}",
                       "Run it in a shell, then /mcp in Claude Code to sign in: your browser opens and the "
                       "desk asks you to allow it.")
    servers: dict[str, object]
    if client == "cursor":
        servers = {"mcpServers": {SERVER_NAME: {"url": url}}}
        where = "Merge into ~/.cursor/mcp.json; Cursor offers to sign in and the desk asks you to allow it."
    elif client == "vscode":
        servers = {"servers": {SERVER_NAME: {"type": "http", "url": url}}}
        where = "Merge into .vscode/mcp.json; VS Code offers to sign in and the desk asks you to allow it."
    elif client == "gemini":
        servers = {"mcpServers": {SERVER_NAME: {"httpUrl": url, "timeout": WAIT_SECONDS * 1000}}}
        where = "Merge into ~/.gemini/settings.json, then /mcp auth hitl-desk; the desk asks you to allow it."
    else:
        raise InvalidRequestError(f"--oauth is for {', '.join(OAUTH_CLIENTS)}; {client} takes a key "
                                  "(leave out --oauth).")
    return Snippet(json.dumps(servers, indent=2), where)


def emit_oauth(args: argparse.Namespace) -> int:
    """``mcp-config CLIENT --oauth``: the header-less configuration on stdout, where it goes on stderr."""
    from hitl_desk.settings import Settings

    snippet = render_oauth(args.client, mcp_url(args.url or Settings.from_env().server_url))
    print(snippet.text.rstrip("\n"))
    print(snippet.where, file=sys.stderr)
    return 0
