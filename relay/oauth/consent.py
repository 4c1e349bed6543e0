"""Consent as a human-in-the-loop question: the browser waits on a small page while the human decides.

``/authorize`` turns a valid authorization request into a question for the human (choices
Allow / Deny) that the broker delivers like any other, so the TUI, the tray and the CLI show it;
the browser is sent to ``/api/v1/oauth/consent/<id>``, a page that long-polls the decision
(``?wait=1``, refreshed by a meta refresh until there is one) and then redirects to the client:
with a code on Allow, with ``error=access_denied`` on Deny, on no answer in time, or on a dismissal.
A decision is redeemed once.  The id in the page's URL is random and apart from the request id.
"""

from __future__ import annotations

import dataclasses
import html
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from aiohttp import web
from mcp.server.auth.provider import construct_redirect_uri

from hitl_desk.display import visible_line
from hitl_desk.models import Agent, HitlRequest, InputRequestCreate
from relay.broker import Broker
from relay.oauth.store import OAuthStore, digest

ALLOW, DENY = "Allow", "Deny"
POLL_SECONDS = 20.0
"""How long one consent-page load waits for the decision before the page refreshes itself."""
MAX_SHOWN_NAME = 200
MAX_WAITING = 10
"""Consents waiting at once: /authorize needs no credential, so it must not flood the human."""


@dataclass(frozen=True)
class Consent:
    """An authorization request waiting for the human's decision."""

    client_id: str
    client_name: str
    agent: Agent
    redirect_uri: str
    state: str | None
    code_challenge: str
    scopes: list[str]
    resource: str
    issuer: str
    request_id: str = ""
    """The consent question's request id, once asked."""


def consent_prompt(consent: Consent) -> str:
    """The question the human sees; the client's words are one escaped line each, so a name cannot
    add lines that look like the relay's own."""
    host = urlsplit(consent.redirect_uri).hostname or urlsplit(consent.redirect_uri).scheme
    name = visible_line(consent.client_name[:MAX_SHOWN_NAME]) or "An unnamed client"
    agent, redirect = visible_line(consent.agent.name), visible_line(consent.redirect_uri[:MAX_SHOWN_NAME])
    return (f"{name} on this machine wants to ask you questions as agent \"{agent}\".\n"
            f"It gets its answer at {visible_line(host)} (redirect {redirect}); "
            f"scopes: {' '.join(consent.scopes)}.\nAllow it to sign in?")


class ConsentDesk:
    """The consents this relay is waiting on, keyed by the SHA-256 of the random id in the page URL.

    Each is also kept in ``store``, so a relay restarted while the human decides
    takes it back (``load``): the question survives the restart like any other, and the
    browser's next poll of the same page still gets its code.
    """

    def __init__(self, broker: Broker, timeout: float, store: OAuthStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.broker = broker
        self.timeout = timeout
        self.store = store
        self.clock = clock
        self._waiting: dict[str, Consent] = {}
        self._forget_at: dict[str, float] = {}

    @property
    def full(self) -> bool:
        """Whether as many consents wait as the human should be shown at once."""
        return len(self._waiting) >= MAX_WAITING

    async def load(self) -> None:
        """Take back the consents a previous run of the relay left waiting."""
        for id_hash, request_id, kept, forget_at in await self.store.waiting_consents(self.clock()):
            self._waiting[id_hash] = _consent_of(kept, request_id)
            self._forget_at[id_hash] = forget_at

    async def ask(self, consent: Consent) -> str:
        """Put the consent question to the human; the id of the page that waits for the answer."""
        request = await self.broker.create_input(consent.agent, InputRequestCreate(
            prompt=consent_prompt(consent), choices=[ALLOW, DENY], timeout_seconds=self.timeout))
        now = self.clock()
        for stale in [key for key, at in self._forget_at.items() if at < now]:  # browsers that never came back
            self._waiting.pop(stale, None)
            del self._forget_at[stale]
        consent_id = secrets.token_urlsafe(24)
        key, kept = digest(consent_id), replace(consent, request_id=request.id)
        forget_at = now + self.timeout + 2 * POLL_SECONDS
        await self.store.add_consent(key, request.id, _json_of(kept), forget_at, now)
        self._waiting[key] = kept
        self._forget_at[key] = forget_at
        return consent_id

    def get(self, consent_id: str) -> Consent | None:
        """A consent still waiting to be redeemed."""
        return self._waiting.get(digest(consent_id))

    async def decision(self, consent_id: str, wait: bool) -> tuple[Consent, HitlRequest] | None:
        """The consent and its question once final (redeemed here, once); None while undecided."""
        key = digest(consent_id)
        consent = self._waiting.get(key)
        if consent is None:
            return None
        request = await self.broker.wait(consent.request_id, POLL_SECONDS if wait else 0)
        if not request.is_final or self._waiting.pop(key, None) is None:
            return None
        self._forget_at.pop(key, None)
        await self.store.drop_consent(key)
        return consent, request


def _json_of(consent: Consent) -> str:
    fields = {f.name: getattr(consent, f.name) for f in dataclasses.fields(consent) if f.name != "request_id"}
    return json.dumps({**fields, "agent": consent.agent.model_dump(mode="json")})


def _consent_of(kept: str, request_id: str) -> Consent:
    fields = json.loads(kept)
    return Consent(**{**fields, "agent": Agent.model_validate(fields["agent"]), "request_id": request_id})


def refusal(request: HitlRequest) -> str | None:
    """Why the human's decision is not an Allow (None when it is)."""
    if request.status == "answered" and request.response == ALLOW:
        return None
    if request.status == "answered":
        return "The human denied access."
    if request.status == "expired":
        return "The human did not answer in time."
    return "The consent request was withdrawn."


def redirect_to_client(consent: Consent, **params: str | None) -> web.HTTPFound:
    """The redirect back to the client with ``state`` and ``iss`` (RFC 9207) added."""
    location = construct_redirect_uri(consent.redirect_uri, **params, state=consent.state, iss=consent.issuer)
    return web.HTTPFound(location, headers={"Cache-Control": "no-store"})


def waiting_page(consent: Consent, consent_id: str) -> web.Response:
    """The page the browser shows while the human decides; it reloads into a long poll."""
    again = html.escape(f"/api/v1/oauth/consent/{consent_id}?wait=1", quote=True)
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={again}">
<title>Waiting for approval</title></head>
<body><h1>Waiting for approval at your desk</h1>
<p>{html.escape(consent.client_name or "An unnamed client")} asks to sign in as agent
<b>{html.escape(consent.agent.name)}</b>. Answer the question in hitl-desk (TUI, tray or CLI);
this page moves on by itself.</p></body></html>"""
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})
