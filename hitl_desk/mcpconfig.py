"""Ready-to-paste MCP configuration for the agent clients that can talk to the relay.

Every client reaches the relay's Streamable HTTP endpoint (``/mcp``) with an agent API key in
the ``X-API-Key`` header.  The formats follow each client's documentation: Claude Code's
``claude mcp add --transport http``; Cursor's and Windsurf's ``mcpServers`` (``url`` and
``serverUrl``); VS Code's ``servers`` with ``"type": "http"``; Gemini CLI's ``httpUrl``; Codex's
``[mcp_servers.NAME]`` TOML table; Claude Desktop, whose config file takes no remote headers,
through the ``mcp-remote`` stdio bridge.  Where a client has a tool-call timeout shorter than a
human may take, the snippet raises it past the relay's 15-minute cap.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitl_desk.settings import Settings, write_private

__all__ = ["CLIENTS", "SERVER_NAME", "Snippet", "emit", "mcp_url", "render"]

SERVER_NAME = "hitl-desk"
HEADER = "X-API-Key"
WAIT_SECONDS = 16 * 60
"""A tool-call timeout just above the relay's 15-minute cap on a question."""
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_.~+/=-]+")


@dataclass(frozen=True)
class Snippet:
    """What to paste (``text``) and where it goes (``where``)."""

    text: str
    where: str


def mcp_url(server_url: str) -> str:
    """The relay's MCP endpoint for a base URL."""
    return server_url.rstrip("/") + "/mcp"


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2)


def _claude_code(url: str, key: str) -> Snippet:
    header = f"{HEADER}: {key}"
    quoted = f'"{header}"' if _SHELL_SAFE.fullmatch(key) else shlex.quote(header)
    return Snippet(f"claude mcp add --transport http {SERVER_NAME} {url} --header {quoted}",
                   "Run it in a shell (add --scope user to use it in every project).")


def _claude_desktop(url: str, key: str) -> Snippet:
    args = ["-y", "mcp-remote", url, "--header", f"{HEADER}:${{HITL_API_KEY}}"]
    if url.startswith("http://"):
        args.append("--allow-http")
    server = {"command": "npx", "args": args, "env": {"HITL_API_KEY": key}}
    return Snippet(_json({"mcpServers": {SERVER_NAME: server}}),
                   "Merge into claude_desktop_config.json (Settings > Developer > Edit Config); "
                   "it runs the mcp-remote bridge through npx, so Node.js is needed.")


def _cursor(url: str, key: str) -> Snippet:
    return Snippet(_json({"mcpServers": {SERVER_NAME: {"url": url, "headers": {HEADER: key}}}}),
                   "Merge into ~/.cursor/mcp.json (or .cursor/mcp.json in a project).")


def _codex(url: str, key: str) -> Snippet:
    text = (f"[mcp_servers.{SERVER_NAME}]\n"
            f"url = {json.dumps(url)}\n"
            f"http_headers = {{ {json.dumps(HEADER)} = {json.dumps(key)} }}\n"
            f"tool_timeout_sec = {WAIT_SECONDS}\n")
    return Snippet(text, "Append to ~/.codex/config.toml.")


def _gemini(url: str, key: str) -> Snippet:
    server = {"httpUrl": url, "headers": {HEADER: key}, "timeout": WAIT_SECONDS * 1000}
    return Snippet(_json({"mcpServers": {SERVER_NAME: server}}),
                   "Merge into ~/.gemini/settings.json (or .gemini/settings.json in a project).")


def _windsurf(url: str, key: str) -> Snippet:
    return Snippet(_json({"mcpServers": {SERVER_NAME: {"serverUrl": url, "headers": {HEADER: key}}}}),
                   "Merge into ~/.codeium/windsurf/mcp_config.json, then refresh the MCP panel.")


def _vscode(url: str, key: str) -> Snippet:
    server = {"type": "http", "url": url, "headers": {HEADER: key}}
    return Snippet(_json({"servers": {SERVER_NAME: server}}),
                   "Merge into .vscode/mcp.json in a workspace (or run 'MCP: Open User Configuration').")


_RENDERERS = {
    "claude-code": _claude_code,
    "claude-desktop": _claude_desktop,
    "cursor": _cursor,
    "codex": _codex,
    "gemini": _gemini,
    "windsurf": _windsurf,
    "vscode": _vscode,
}
CLIENTS: tuple[str, ...] = tuple(_RENDERERS)


def render(client: str, url: str, key: str) -> Snippet:
    """The configuration for one client; ``url`` is the MCP endpoint, ``key`` an agent API key."""
    try:
        renderer = _RENDERERS[client]
    except KeyError:
        raise ValueError(f"unknown client {client!r}; choose one of {', '.join(CLIENTS)}") from None
    return renderer(url, key)


MINTED_FILE = "mcp-keys.json"
"""Under ``HITL_HOME`` (0600): the key minted for each client, so a second call reuses it."""


async def emit(client: str, *, url: str | None = None, key: str | None = None, agent: str | None = None) -> int:
    """Print the configuration to stdout; without ``key``, reuse the key minted for this client
    before (while the relay still knows it) or mint one with the owner credential and keep it."""
    from hitl_desk.settings import Settings

    settings = Settings.from_env()
    base = url or settings.server_url
    if key is None:
        key = await _minted_key(settings, client, base, agent or client)
    snippet = render(client, mcp_url(base), key)
    print(snippet.text.rstrip("\n"))
    print(snippet.where, file=sys.stderr)
    return 0


async def _minted_key(settings: Settings, client: str, base: str, agent: str) -> str:
    """The key this machine minted for ``client`` on this relay, or a new one (said on stderr)."""
    from hitl_desk.client import RelayClient

    path = settings.home / MINTED_FILE
    minted = _load_minted(path)
    kept = minted.get(client)
    async with RelayClient.for_owner(settings, url=base) as owner:
        why = ""
        if isinstance(kept, dict) and kept.get("url") == base and kept.get("agent") == agent:
            active = {k.prefix for k in await owner.list_api_keys() if k.revoked_at is None}
            if kept.get("prefix") in active:
                print(f"Reusing the key minted for {client} before ({kept['prefix']}…, agent {agent!r}).",
                      file=sys.stderr)
                return str(kept["api_key"])
            why = f" (the one minted before, {kept.get('prefix')}…, is revoked or unknown to this relay)"
        created = await owner.create_api_key(agent, f"mcp-config {client}")
    minted[client] = {"url": base, "agent": created.agent_name, "prefix": created.prefix,
                      "api_key": created.api_key}
    write_private(path, json.dumps(minted, indent=2, sort_keys=True))
    print(f"Minted a new key for agent {created.agent_name!r} ({created.prefix}…){why}; kept in {path} "
          f"so the next 'mcp-config {client}' reuses it.", file=sys.stderr)
    return created.api_key


def _load_minted(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:  # a damaged file: start again rather than fail (it only saves mints)
        return {}
    return data if isinstance(data, dict) else {}
