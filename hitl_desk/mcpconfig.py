"""Ready-to-paste MCP configuration for the agent clients that can talk to the relay.

Every client reaches the relay's Streamable HTTP endpoint (``/mcp``) with an agent API key in
the ``X-API-Key`` header (Codex: ``Authorization: Bearer``).  The formats follow each client's
documentation: Claude Code's ``claude mcp add-json`` with the environment and flags a long wait
needs; Cursor's and Windsurf's ``mcpServers`` (``url`` and ``serverUrl``); VS Code's ``servers``
with ``"type": "http"``; Gemini CLI's ``url`` with ``"type": "http"`` and ``trust``; Codex's
``[mcp_servers.NAME]`` TOML table with ``bearer_token_env_var``; Claude Desktop, whose config file
takes no remote headers, through the ``mcp-remote`` stdio bridge.  Where a client has a tool-call
timeout shorter than a human may take, the snippet raises it past the relay's 15-minute cap.
Claude Code, Codex and Gemini CLI are proven as printed by tests/agents/test_real_clients.py,
which drives the real CLIs.
"""

from __future__ import annotations

import json
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


TOOLS = ("request_human_input", "notify_human", "notify_human_completion")
"""The plaintext tools an agent calls itself (the ``_e2ee`` ones are for encrypting proxies)."""
KEY_VARIABLE = "HITL_API_KEY"
"""Where Codex reads the key from (``bearer_token_env_var``), so config.toml holds no secret."""


def _claude_code(url: str, key: str) -> Snippet:
    server = {"type": "http", "url": url, "headers": {HEADER: key}, "timeout": WAIT_SECONDS * 1000,
              "alwaysLoad": True}
    allowed = " ".join(f"mcp__{SERVER_NAME}__{tool}" for tool in TOOLS)
    text = ("# timeout (ms): a human may take up to 15 minutes; alwaysLoad: the tools stay in view, not deferred\n"
            f"claude mcp add-json {SERVER_NAME} {shlex.quote(json.dumps(server))}\n"
            "# Keep a waiting question in the foreground (since 2.1.212 a 2-minute call moves to the background)\n"
            "export CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS=0\n"
            "# Headless runs (claude -p) cannot ask for permission, so allow the tools by name, after the prompt:\n"
            f"#   claude -p \"your task\" --allowedTools {allowed}\n")
    return Snippet(text, "Run it in a shell (add --scope user after add-json to use it in every project) and put "
                         "the export in your shell profile.")


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
    text = ("# Codex reads the key from its environment:\n"
            f"#   export {KEY_VARIABLE}={shlex.quote(key)}\n"
            f"[mcp_servers.{SERVER_NAME}]\n"
            f"url = {json.dumps(url)}\n"
            f"bearer_token_env_var = {json.dumps(KEY_VARIABLE)}\n"
            "# A human may take up to 15 minutes to answer; Codex gives up on a tool after 60 s by default.\n"
            f"tool_timeout_sec = {WAIT_SECONDS}\n"
            "# No approval per call (codex exec never asks, so an unapproved call fails there).\n"
            "default_tools_approval_mode = \"approve\"\n")
    return Snippet(text, f"Append to ~/.codex/config.toml and export {KEY_VARIABLE} where codex runs "
                         f"(or: codex mcp add {SERVER_NAME} --url {url} --bearer-token-env-var {KEY_VARIABLE}).")


def _gemini(url: str, key: str) -> Snippet:
    # "type": "http" with "url" (httpUrl is deprecated); "trust": headless runs hide untrusted servers' tools.
    server = {"url": url, "type": "http", "headers": {HEADER: key}, "timeout": WAIT_SECONDS * 1000, "trust": True}
    return Snippet(_json({"mcpServers": {SERVER_NAME: server}}),
                   "Merge into ~/.gemini/settings.json (or .gemini/settings.json in a project). timeout is in ms "
                   "(a human may take 15 minutes); trust: true, or headless runs (gemini -p) hide the tools.")


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
