"""MCP Streamable HTTP: agents ask the human through the `mcp` SDK's server, mounted in the relay.

``setup_mcp(app)`` mounts it at ``/mcp`` and ``/mcp-server/mcp/`` (with and without the slash).
``tools`` holds what the model sees (tool and prompt texts) and the thin calls into the broker;
``sealed`` adds their end-to-end encrypted variants (envelopes in and out, for encrypting
proxies); ``endpoint`` holds the HTTP side: auth before the MCP layer, the ASGI bridge, the session manager.
"""

from __future__ import annotations

from relay.mcp.endpoint import MCP_PATHS, MCP_SESSIONS, setup_mcp

__all__ = ["MCP_PATHS", "MCP_SESSIONS", "setup_mcp"]
