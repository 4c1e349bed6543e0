"""The signed-in credential of ``hitl-desk login``, for every command that asks: read from
``HITL_HOME/oauth-token.json`` (0600) and refreshed (rotated) when it has expired.

Standard library only: the agent commands (``hitl_desk.asker``) and command hooks run once per
agent call and must start light; the sign-in flow itself is ``hitl_desk.login``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hitl_desk.errors import AuthenticationError, RelayUnavailableError
from hitl_desk.settings import Settings, write_private

TOKEN_FILE = "oauth-token.json"
REFRESH_MARGIN = 30.0
"""Seconds before expiry at which a stored access token is refreshed rather than used."""


def token_path(settings: Settings) -> Path:
    """Where the signed-in token is kept."""
    return settings.home / TOKEN_FILE


def record_of(token: dict[str, Any], base: str, client_id: str, token_endpoint: str) -> dict[str, Any]:
    return {"server_url": base, "client_id": client_id, "token_endpoint": token_endpoint,
            "access_token": token["access_token"], "refresh_token": token.get("refresh_token"),
            "scope": token.get("scope"), "expires_at": time.time() + float(token.get("expires_in") or 0)}


def agent_credential(settings: Settings) -> tuple[str | None, Callable[[], str | None] | None]:
    """What an agent command sends, and how to renew it after a 401: ``HITL_API_KEY`` if set, else
    ``hitl-desk login``'s token (renewable), else the local owner credential."""
    signed_in = None if settings.api_key else stored_credential(settings)
    renew = (lambda: stored_credential(settings)) if signed_in else None
    return settings.api_key or signed_in or settings.read_owner_token(), renew


def stored_credential(settings: Settings) -> str | None:
    """The signed-in access token for this relay, refreshed first when it has expired; None if not signed in."""
    path = token_path(settings)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("server_url") != settings.server_url.rstrip("/"):
        return None
    if time.time() < float(record.get("expires_at") or 0) - REFRESH_MARGIN:
        return str(record["access_token"])
    import fcntl

    # Refresh tokens rotate and a reused one revokes the sign-in: one process refreshes at a time,
    # and the others take the token it wrote.
    with (path.parent / (TOKEN_FILE + ".lock")).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        latest = json.loads(path.read_text())
        if time.time() < float(latest.get("expires_at") or 0) - REFRESH_MARGIN:
            return str(latest["access_token"])
        return _refresh(settings, latest)


def _refresh(settings: Settings, record: dict[str, Any]) -> str:
    """Trade the refresh token for new tokens (it rotates) and keep them."""
    import urllib.error
    import urllib.request

    form = urlencode({"grant_type": "refresh_token", "refresh_token": record.get("refresh_token") or "",
                      "client_id": record.get("client_id") or ""}).encode()
    request = urllib.request.Request(str(record.get("token_endpoint")), data=form, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # loopback, a few milliseconds
            token = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AuthenticationError("The sign-in has expired and the relay refused to renew it: run "
                                  "`hitl-desk login` again.") from exc
    except OSError as exc:
        raise RelayUnavailableError(f"No relay answered at {record.get('server_url')} to renew the sign-in.") from exc
    renewed = record_of(token, str(record["server_url"]), str(record["client_id"]), str(record["token_endpoint"]))
    write_private(token_path(settings), json.dumps(renewed, indent=2))
    return str(renewed["access_token"])
