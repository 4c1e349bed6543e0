"""The authorization server's logic, in the shape of the mcp SDK's ``OAuthAuthorizationServerProvider``.

The SDK's provider interface is followed where it fits (``get_client``, ``register_client``,
``exchange_authorization_code``, ``exchange_refresh_token``, ``revoke_token``, with its
``AuthorizationCode``/``RefreshToken``/``AccessToken`` models and ``TokenError``/``RegistrationError``
codes); its Starlette handlers are not used (aiohttp serves, and their redirect matching is exact),
so the token handler's checks (code owner, expiry, redirect, PKCE S256) are done here, in its order.
Every method takes the issuer, because the relay's origin is the Host the client reached it by.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from mcp.server.auth.handlers.token import AuthorizationCodeRequest, RefreshTokenRequest
from mcp.server.auth.provider import TokenError
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

from hitl_desk.models import Agent
from relay.auth import Auth, Principal
from relay.oauth.cimd import MetadataDocuments, is_metadata_url
from relay.oauth.clients import agent_name_for, new_client
from relay.oauth.resource import SCOPES
from relay.oauth.store import Grant, OAuthStore, StoredCode
from relay.oauth.tokens import ACCESS_TOKEN_SECONDS, AccessTokens, is_access_token

CODE_SECONDS = 60.0
"""An authorization code is good this long (RFC 6749 §4.1.2 advises at most ten minutes)."""
REFRESH_SECONDS = 30 * 86400.0
GRANT_RECHECK = 5.0
"""Seconds a grant found live is trusted without reading the store again: a revocation on this
relay clears that memory at once; one made by another relay sharing the store lands within this."""


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 S256: ``BASE64URL(SHA256(verifier)) == challenge``."""
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return hmac.compare_digest(computed, challenge)


def granted_scopes(requested: str | None) -> list[str]:
    """The agent scopes to grant: those asked for, or all of them when none of ours was asked for.

    Scopes we do not define (hitl-cli asks for ``openid profile email``) are ignored, as RFC 6749
    §3.3 lets a server do; the token response names what was granted.
    """
    asked = [scope for scope in SCOPES if scope in (requested or "").split()]
    return asked or list(SCOPES)


class AuthorizationServer:
    """Registers clients, issues codes after consent, exchanges them for tokens, refreshes, revokes."""

    def __init__(self, store: OAuthStore, auth: Auth, tokens: AccessTokens,
                 clock: Callable[[], float] = time.time, documents: MetadataDocuments | None = None) -> None:
        self.store = store
        self.documents = documents or MetadataDocuments()
        self.auth = auth
        self.tokens = tokens
        self.clock = clock
        self._live: dict[str, tuple[float, Agent]] = {}
        """grant id -> (when it was last read live, its agent): saves two store reads per call."""

    # -- clients --------------------------------------------------------------------------------

    async def register_client(self, metadata: OAuthClientMetadata) -> OAuthClientInformationFull:
        """Register a public client (``RegistrationError`` for a redirect URI we will not serve)."""
        client = new_client(metadata, "hc_" + secrets.token_urlsafe(16), self.clock())
        await self.store.add_client(client, self.clock())
        return client

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        """A registered client, or one its metadata document describes (``client_id`` an https URL)."""
        if not is_metadata_url(client_id):
            return await self.store.client(client_id)
        described = await self.documents.client(client_id)
        if described is not None and await self.store.client(client_id) != described:
            await self.store.keep_client(described, self.clock())  # the owner's list names it
        return described

    async def agent_of(self, client: OAuthClientInformationFull) -> Agent:
        """The agent the client will speak as, registered if new."""
        return await self.auth.ensure_agent(agent_name_for(client))

    # -- codes ----------------------------------------------------------------------------------

    async def issue_code(self, *, client_id: str, agent_id: str, redirect_uri: str, code_challenge: str,
                         scopes: list[str], resource: str) -> str:
        """A fresh one-time code for a consent the human gave."""
        code = "hac_" + secrets.token_urlsafe(32)
        await self.store.add_code(code, StoredCode(
            client_id=client_id, agent_id=agent_id, redirect_uri=redirect_uri, code_challenge=code_challenge,
            scopes=scopes, resource=resource, expires_at=self.clock() + CODE_SECONDS, grant_id=None))
        return code

    async def exchange_authorization_code(self, client: OAuthClientInformationFull, request: AuthorizationCodeRequest,
                                          issuer: str) -> OAuthToken:
        """Check the code as the SDK's token handler does, then spend it on a grant and tokens."""
        stored = await self.store.code(request.code)
        if stored is None or stored.client_id != client.client_id:
            raise TokenError("invalid_grant", "authorization code does not exist")
        if stored.grant_id is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
            await self.store.revoke_grant(stored.grant_id, self.clock())
            self.forget_grants()
            raise TokenError("invalid_grant", "authorization code was already used")
        if stored.expires_at < self.clock():
            raise TokenError("invalid_grant", "authorization code has expired")
        if request.redirect_uri is None or not _same_redirect(str(request.redirect_uri), stored.redirect_uri):
            raise TokenError("invalid_grant", "redirect_uri did not match the one used when creating the code")
        if not pkce_matches(request.code_verifier, stored.code_challenge):
            raise TokenError("invalid_grant", "incorrect code_verifier")
        if request.resource is not None and not check_resource_allowed(request.resource, stored.resource):
            raise TokenError("invalid_target", "resource differs from the one authorised")
        now = self.clock()
        grant = Grant(id="hg_" + secrets.token_hex(8), client_id=client.client_id, agent_id=stored.agent_id,
                      scopes=stored.scopes, resource=stored.resource, created_at=now, last_used_at=now,
                      revoked_at=None)
        refresh = "hrt_" + secrets.token_urlsafe(32)
        if not await self.store.exchange_code(request.code, grant, refresh, now + REFRESH_SECONDS):
            raise TokenError("invalid_grant", "authorization code was already used")
        return self._token(grant, refresh, issuer, now)

    # -- refresh and revocation -----------------------------------------------------------------

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, request: RefreshTokenRequest,
                                     issuer: str) -> OAuthToken:
        """Rotate a refresh token; one used twice revokes its whole family (OAuth 2.1 §4.3.1)."""
        current = await self.store.grant_of_refresh(request.refresh_token)
        if current is None or current.client_id != client.client_id:
            raise TokenError("invalid_grant", "refresh token does not exist")
        wanted = request.scope.split() if request.scope else current.scopes
        if any(scope not in current.scopes for scope in wanted):
            raise TokenError("invalid_scope", "cannot widen the scopes of a refresh token")
        if request.resource is not None and not check_resource_allowed(request.resource, current.resource):
            raise TokenError("invalid_target", "resource differs from the one authorised")
        now = self.clock()
        new = "hrt_" + secrets.token_urlsafe(32)
        outcome, grant = await self.store.rotate(request.refresh_token, new, now, now + REFRESH_SECONDS)
        if outcome == "reused":
            self.forget_grants()
        if outcome != "rotated" or grant is None:
            raise TokenError("invalid_grant", {"reused": "refresh token was already used; its grant is revoked",
                                               "expired": "refresh token has expired",
                                               "revoked": "refresh token was revoked"}.get(outcome, "unknown token"))
        return self._token(Grant(**{**grant.__dict__, "scopes": wanted}), new, issuer, now)

    async def revoke_token(self, token: str, issuer: str) -> None:
        """RFC 7009: revoke the grant behind a refresh or access token; unknown tokens are ignored."""
        grant = await self.store.grant_of_refresh(token)
        if grant is None:
            claims = self.tokens.check(token, issuer=issuer, url=None)  # revocable wherever it was for
            grant = await self.store.grant(claims.grant_id) if claims else None
        if grant is not None:
            await self.store.revoke_grant(grant.id, self.clock())
            self.forget_grants()

    async def revoke_client(self, client_id: str) -> int:
        """Revoke every live grant of a client; how many there were."""
        count = await self.store.revoke_client(client_id, self.clock())
        self.forget_grants()
        return count

    def _token(self, grant: Grant, refresh: str, issuer: str, now: float) -> OAuthToken:
        access = self.tokens.mint(issuer=issuer, audience=grant.resource, grant_id=grant.id,
                                  client_id=grant.client_id, agent_id=grant.agent_id, scopes=grant.scopes, now=now)
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=ACCESS_TOKEN_SECONDS,
                          scope=" ".join(grant.scopes), refresh_token=refresh)

    # -- the resource server's side -------------------------------------------------------------

    def claims(self, credential: str) -> bool:
        """Whether a bearer credential is one of our access tokens (``relay.auth.BearerVerifier``)."""
        return is_access_token(credential)

    async def principal(self, token: str, url: str) -> Principal | None:
        """The agent behind a valid, unrevoked access token whose audience covers ``url``."""
        claims = self.tokens.check(token, issuer=_origin(url), url=url)
        if claims is None:
            return None
        now = time.monotonic()
        checked = self._live.get(claims.grant_id)
        if checked is None or now - checked[0] > GRANT_RECHECK:
            grant = await self.store.grant(claims.grant_id)
            agent = await self.auth.store.agent_by_id(claims.agent_id)
            if grant is None or grant.revoked_at is not None or agent is None:
                self._live.pop(claims.grant_id, None)
                return None
            if len(self._live) > 10_000:  # bounded: forget everything rather than grow
                self._live.clear()
            checked = self._live[claims.grant_id] = (now, agent)
        return Principal("agent", checked[1], f"oauth:{claims.grant_id}", scopes=claims.scopes)

    def forget_grants(self) -> None:
        """Drop what is remembered about live grants (after a revocation made here)."""
        self._live.clear()


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _same_redirect(given: str, stored: str) -> bool:
    # AnyUrl adds "/" to an empty path; the stored one is the string the client sent to /authorize
    return given == stored or resource_url_from_server_url(given).rstrip("/") == stored.rstrip("/")
