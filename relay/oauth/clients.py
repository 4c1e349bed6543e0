"""Registered clients: which redirect URIs a registration may name, and how a redirect matches one.

Registration (RFC 7591) accepts loopback ``http`` redirects (native apps listen on them, RFC 8252
§7.3), ``https`` ones and private-use schemes such as ``cursor://`` (RFC 8252 §7.1); Cursor
registers all three kinds at once and a refusal of one fails its whole registration.  A loopback
redirect matches on any port, because clients pick a free one per login (Claude Code registers
``http://localhost/callback`` and listens elsewhere); every other redirect matches exactly.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mcp.server.auth.provider import RegistrationError
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata

from hitl_desk.models import MAX_NAME_CHARS

LOOPBACK_REDIRECT_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss"})
HITL_CLI_PREFIX = "HITL CLI - "
"""hitl-cli names its client ``HITL CLI - <--name>``: the part after it names the agent.  Its later
``X-MCP-Agent-Name`` header (sent at the token endpoint) says the same and is not used to rename:
the agent is the one the human was shown and allowed."""
DEFAULT_AGENT = "oauth-client"


def _is_loopback_http(parts: tuple[str, str | None]) -> bool:
    scheme, host = parts
    return scheme == "http" and host in LOOPBACK_REDIRECT_HOSTS


def check_redirect(uri: str) -> None:
    """Refuse a redirect URI this relay will not send codes to (``RegistrationError``)."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise RegistrationError("invalid_redirect_uri", f"{uri!r} is not a URL.") from None
    scheme = parts.scheme.lower()
    if parts.fragment or "#" in uri:
        raise RegistrationError("invalid_redirect_uri", "A redirect URI may not have a fragment.")
    if scheme == "http":
        if host not in LOOPBACK_REDIRECT_HOSTS:
            raise RegistrationError("invalid_redirect_uri",
                                    "Plain http redirects must go to loopback (localhost, 127.0.0.1, ::1).")
    elif scheme == "https":
        if not host:
            raise RegistrationError("invalid_redirect_uri", "An https redirect needs a host.")
    elif not _SCHEME.match(scheme) or scheme in _FORBIDDEN_SCHEMES:
        raise RegistrationError("invalid_redirect_uri", f"The scheme {scheme!r} cannot receive a redirect.")


def new_client(metadata: OAuthClientMetadata, client_id: str, now: float) -> OAuthClientInformationFull:
    """The record of a newly registered public client (PKCE stands in for a secret on loopback)."""
    uris = metadata.redirect_uris or []
    for uri in uris:
        check_redirect(str(uri))
    return OAuthClientInformationFull(
        **metadata.model_dump(exclude={"token_endpoint_auth_method", "grant_types", "response_types"},
                              exclude_none=True),
        client_id=client_id, client_id_issued_at=int(now), token_endpoint_auth_method="none",
        # refresh is granted even when not asked for: hitl-cli lists only authorization_code and refreshes
        grant_types=["authorization_code", "refresh_token"], response_types=["code"])


def match_redirect(client: OAuthClientInformationFull, requested: str | None) -> str | None:
    """The redirect to use: ``requested`` if registered (loopback on any port), else None.

    Without ``requested``, a client with exactly one registered redirect gets that one.
    """
    registered = [str(uri) for uri in client.redirect_uris or []]
    if requested is None:
        return registered[0] if len(registered) == 1 else None
    try:
        want = urlsplit(requested)
        want_host = want.hostname
        _ = want.port  # a malformed port raises here
    except ValueError:
        return None
    for uri in registered:
        if uri == requested or _same_target(uri, requested):
            return requested
        have = urlsplit(uri)
        if (_is_loopback_http((want.scheme, want_host)) and _is_loopback_http((have.scheme, have.hostname))
                and want_host == have.hostname and want.path.rstrip("/") == have.path.rstrip("/")
                and want.query == have.query):
            return requested  # RFC 8252 §7.3: the port is the client's to choose
    return None


def _same_target(registered: str, requested: str) -> bool:
    # pydantic's AnyUrl adds a "/" to an empty path when the registration is stored
    return registered.rstrip("/") == requested.rstrip("/") and urlsplit(requested).path in ("", "/")


def agent_name_for(client: OAuthClientInformationFull) -> str:
    """The agent an authorised client speaks as: hitl-cli's ``--name``, else the client's name."""
    name = (client.client_name or "").strip()
    if name.startswith(HITL_CLI_PREFIX) and name[len(HITL_CLI_PREFIX):].strip():
        name = name[len(HITL_CLI_PREFIX):].strip()
    return (name or DEFAULT_AGENT)[:MAX_NAME_CHARS].strip() or DEFAULT_AGENT
