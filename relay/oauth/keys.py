"""Typed application keys of the OAuth parts (set when the relay's store opens)."""

from __future__ import annotations

from aiohttp import web

from relay.oauth.consent import ConsentDesk
from relay.oauth.server import AuthorizationServer

OAUTH: web.AppKey[AuthorizationServer] = web.AppKey("oauth", AuthorizationServer)
CONSENTS: web.AppKey[ConsentDesk] = web.AppKey("oauth_consents", ConsentDesk)
