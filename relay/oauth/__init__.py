"""The relay as an OAuth 2.1 authorization server for its own resource (issue 12).

``resource`` is the protected-resource side (metadata, 401/403 challenges), ``server`` the
authorization logic (codes, tokens, refresh rotation, revocation), ``consent`` the human's
decision as a question through the broker, ``routes`` the HTTP endpoints, ``tokens`` the signed
JWT access tokens, ``clients`` registration and redirect matching, ``store`` the rows.
``setup_oauth(app)`` wires them once the store is open and routes bearer JWTs through them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from relay.context import AUTH, BROKER, CONFIG
from relay.oauth.cimd import MetadataDocuments
from relay.oauth.consent import ConsentDesk
from relay.oauth.keys import CONSENTS, OAUTH
from relay.oauth.resource import rest_scopes
from relay.oauth.routes import routes
from relay.oauth.server import AuthorizationServer
from relay.oauth.store import OAuthStore
from relay.oauth.tokens import AccessTokens, load_signing_key
from relay.store.sqlite import SqliteStore

__all__ = ["routes", "setup_oauth"]


async def _oauth_ctx(app: web.Application) -> AsyncIterator[None]:
    auth = app[AUTH]
    if not isinstance(auth.store, SqliteStore):  # another engine would bring its own OAuth rows
        yield
        return
    config = app[CONFIG]
    store = OAuthStore(auth.store)
    server = AuthorizationServer(store, auth, AccessTokens(load_signing_key(config.home)),
                                 documents=MetadataDocuments(config.oauth_cimd_cafile))
    consents = ConsentDesk(app[BROKER], config.oauth_consent_timeout, store)
    await consents.load()  # sign-ins a previous run left waiting on the human
    app[OAUTH], app[CONSENTS] = server, consents
    auth.bearer = server
    yield
    auth.bearer = None


def setup_oauth(app: web.Application) -> None:
    """Start the authorization server with the relay; call after the context that opens the store."""
    app.cleanup_ctx.append(_oauth_ctx)
    app.middlewares.append(rest_scopes)  # after the error middleware, which answers its 403
