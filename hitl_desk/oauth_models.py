"""Wire models of the relay's OAuth owner routes: the authorised clients, listed and revoked.

The OAuth protocol documents themselves (metadata, registration, tokens) are the mcp SDK's
models (``mcp.shared.auth``); these are the relay's own answers to the desk's owner.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AuthorizedClient(BaseModel):
    """A client the human allowed in, with the agent it speaks as (one row per live grant)."""

    client_id: str
    client_name: str | None = None
    agent_id: str
    agent_name: str
    scopes: list[str]
    grant_id: str
    authorized_at: datetime
    last_used_at: datetime | None = None


class AuthorizedClientList(BaseModel):
    """Answer of ``GET /api/v1/oauth/clients``: newest grant first."""

    clients: list[AuthorizedClient]


class ClientRevoked(BaseModel):
    """Answer of ``DELETE /api/v1/oauth/clients/{client_id}``: its tokens are refused from now on."""

    client_id: str
    revoked_grants: int
