"""Test support for OAuth: a browser stand-in, the SDK client's token storage, a human who consents.

The browser follows what a browser follows (``Location`` and ``<meta http-equiv="refresh">``) and
stops at the client's redirect URI, handing its query to the caller instead of loading it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from hitl_desk.models import HitlRequest
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay

_META_REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+;url=([^"]+)"', re.IGNORECASE)
CONSENT_CHOICES = ["Allow", "Deny"]
BROWSER_SCRIPT = """#!{python}
import re, sys, urllib.parse, urllib.request
url = sys.argv[1]
for _ in range(40):
    with urllib.request.urlopen(url, timeout=60) as resp:  # follows 3xx, as a browser does
        page = resp.read().decode("utf-8", "replace")
        url = resp.geturl()
    found = re.search(r'<meta http-equiv="refresh" content="\\d+;url=([^"]+)"', page)
    if found is None:
        break  # the client's callback page: the sign-in has its code
    url = urllib.parse.urljoin(url, found.group(1).replace("&amp;", "&"))
"""
"""A ``BROWSER`` command for clients that open the authorization URL with Python's webbrowser."""


def write_browser(path: Path) -> Path:
    """Write the browser stand-in script (executable) and return its path."""
    path.write_text(BROWSER_SCRIPT.format(python=sys.executable))
    path.chmod(0o700)
    return path


def is_consent(request: HitlRequest) -> bool:
    """Whether a request is an OAuth consent question."""
    return request.choices == CONSENT_CHOICES and "wants to ask you questions" in request.prompt


async def browse_to_redirect(url: str, redirect_prefix: str, *, max_steps: int = 40) -> dict[str, str]:
    """Load ``url`` like a browser until it is sent to ``redirect_prefix``; that redirect's query."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
        for _ in range(max_steps):
            if url.startswith(redirect_prefix):
                return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
            response = await http.get(url)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            found = _META_REFRESH.search(response.text) if response.status_code == 200 else None
            if found is None:
                raise AssertionError(f"the browser stopped at {url}: {response.status_code} {response.text[:300]}")
            url = urljoin(url, found.group(1).replace("&amp;", "&"))
    raise AssertionError("the browser went round in circles")


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class MemoryTokenStorage:
    """The SDK client's ``TokenStorage``, in memory (``expire`` makes the stored token look expired)."""

    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None
    expire: bool = False
    saved: list[OAuthToken] = field(default_factory=list)

    async def get_tokens(self) -> OAuthToken | None:
        """The stored tokens."""
        if self.tokens is not None and self.expire:
            return self.tokens.model_copy(update={"expires_in": 0})
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        """Store tokens."""
        self.tokens = tokens
        self.saved.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        """The stored registration."""
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        """Store the registration."""
        self.client = client_info


USED = "http://127.0.0.1:49123/callback"
"""The redirect a browser is sent to (registered port-less, as Claude Code's metadata document does)."""


async def post_form(relay: LiveRelay, path: str, **kwargs: Any) -> tuple[int, Any]:
    """POST to the relay; the status and the JSON answer."""
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + path, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)


async def register_client(relay: LiveRelay, uris: list[str], name: str = "bad-input client") -> tuple[int, Any]:
    """Dynamic registration; the status and the answer."""
    return await post_form(relay, "/api/v1/oauth/register", json={"client_name": name, "redirect_uris": uris})


async def authorized_code(relay: LiveRelay, client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    """Authorize with the human allowing; the query the browser is sent back with."""
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": USED, "state": "s1",
             "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    async with relay.owner() as owner, ScriptedApprover(owner, lambda r: "Allow" if is_consent(r) else None):
        return await browse_to_redirect(f"{relay.url}/api/v1/oauth/authorize?{urlencode(query)}", USED)


async def exchange_code(relay: LiveRelay, client_id: str, code: str, verifier: str,
                    redirect: str = USED) -> tuple[int, Any]:
    """The token endpoint's answer to a code."""
    return await post_form(relay, "/api/v1/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": client_id,
        "code_verifier": verifier})


CALLBACK_PORT = 49_000  # never listened on: the browser stand-in stops at the redirect


class SdkClient:
    """The SDK's OAuth client with a browser stand-in that follows the authorization URL."""

    def __init__(self, relay: LiveRelay, name: str = "Test MCP client", *,
                 client_metadata_url: str | None = None) -> None:
        self.redirect = f"http://127.0.0.1:{CALLBACK_PORT}/callback"
        self.storage = MemoryTokenStorage()
        self.callbacks: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.authorize_urls: list[str] = []
        self.redirects: list[dict[str, str]] = []
        metadata = OAuthClientMetadata.model_validate(dict(
            client_name=name, redirect_uris=[self.redirect], grant_types=["authorization_code", "refresh_token"],
            response_types=["code"], token_endpoint_auth_method="none"))
        self.provider = OAuthClientProvider(f"{relay.url}/mcp", metadata, self.storage,
                                            redirect_handler=self._open, callback_handler=self._callback,
                                            client_metadata_url=client_metadata_url)

    async def _open(self, url: str) -> None:
        self.authorize_urls.append(url)
        query = await browse_to_redirect(url, self.redirect)
        self.redirects.append(query)
        self.callbacks.put_nowait(query)

    async def _callback(self) -> AuthorizationCodeResult:
        query = await self.callbacks.get()
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query['error']}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    @asynccontextmanager
    async def session(self, url: str) -> AsyncIterator[Client]:
        """An MCP session authenticated by the provider."""
        async with httpx2.AsyncClient(auth=self.provider, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                yield client
