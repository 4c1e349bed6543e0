"""Access tokens: JWTs (RFC 9068 ``at+jwt``) signed by the relay with a key of their own.

PyJWT signs and checks them (signature, ``exp``, ``iss``, the header type); the relay adds what
only it knows: the audience is a resource the called URL lies under (RFC 8707, checked with the
mcp SDK's ``check_resource_allowed``), and the grant behind the token is not revoked.  The key
is 256 random bits in ``HITL_HOME/oauth_signing.key`` (0600), apart from the owner credential's
secret, so neither kind of token can pass for the other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt
from mcp.shared.auth_utils import check_resource_allowed

from hitl_desk.settings import write_private

TOKEN_TYPE = "at+jwt"
"""The JOSE header ``typ`` of an access token (RFC 9068): what tells it from the owner credential."""
ALGORITHM = "HS256"
KEY_FILE = "oauth_signing.key"
ACCESS_TOKEN_SECONDS = 3600
"""Lifetime of an access token; clients refresh (hitl-cli's proxy never does, so not shorter)."""


def load_signing_key(home: Path) -> bytes:
    """The relay's access-token key, created (0600) on first use."""
    path = home / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        write_private(path, key.hex())
        return key


_HEADER = jwt.encode({}, b"k" * 32, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE}).split(".", 1)[0] + "."
"""The encoded JOSE header every access token starts with (PyJWT writes it the same way each time)."""


def is_access_token(credential: str) -> bool:
    """Whether a bearer credential is (shaped like) one of our access tokens: a string comparison."""
    return credential.startswith(_HEADER)


@dataclass(frozen=True)
class AccessClaims:
    """What a checked access token says."""

    grant_id: str
    client_id: str
    agent_id: str
    scopes: frozenset[str]
    audience: str


class AccessTokens:
    """Mints and checks access tokens."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def mint(self, *, issuer: str, audience: str, grant_id: str, client_id: str, agent_id: str,
             scopes: list[str], now: float) -> str:
        """A signed access token for the grant, valid ``ACCESS_TOKEN_SECONDS``."""
        claims = {"iss": issuer, "aud": audience, "sub": agent_id, "agent_id": agent_id, "client_id": client_id,
                  "scope": " ".join(scopes), "gid": grant_id, "jti": secrets.token_hex(8),
                  "iat": int(now), "exp": int(now) + ACCESS_TOKEN_SECONDS}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})

    def check(self, token: str, *, issuer: str, url: str | None) -> AccessClaims | None:
        """The claims of a valid token whose audience covers ``url`` (None: any audience); None otherwise."""
        try:
            decoded = jwt.api_jwt.decode_complete(token, self._key, algorithms=[ALGORITHM], issuer=issuer,
                                                  options={"verify_aud": False,
                                                           "require": ["exp", "aud", "gid", "agent_id"]})
        except jwt.PyJWTError:
            return None
        claims = decoded["payload"]
        if decoded["header"].get("typ") != TOKEN_TYPE:
            return None
        audience = claims.get("aud")
        # RFC 8707: a token is good only at the resource it was issued for and below it.
        if not isinstance(audience, str) or (url is not None and not check_resource_allowed(url, audience)):
            return None
        return AccessClaims(grant_id=str(claims["gid"]), client_id=str(claims.get("client_id", "")),
                            agent_id=str(claims["agent_id"]), scopes=frozenset(str(claims.get("scope", "")).split()),
                            audience=audience)
