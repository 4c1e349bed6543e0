"""``hitl-desk login``: sign this machine's CLI and SDK in to the relay with OAuth, no pasted key.

The flow is the one MCP clients use against the relay: authorization-server metadata (RFC 8414),
dynamic registration (RFC 7591) of a public client whose redirect is a loopback listener on a
free port (RFC 8252), the browser sent to ``/authorize`` with PKCE S256 and ``state`` while the
human allows the consent question at the desk, the ``iss`` of the answer checked (RFC 9207), and
the code exchanged.  The token is kept in ``HITL_HOME/oauth-token.json`` (0600) and refreshed
(rotated) when it has expired, by ``stored_credential`` which the agent commands and the SDK call.
The protocol documents are the mcp SDK's models (``mcp.shared.auth``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hitl_desk.errors import AuthenticationError, RelayUnavailableError
from hitl_desk.settings import Settings, write_private
from hitl_desk.signin import record_of, token_path

log = logging.getLogger(__name__)
SCOPE = "hitl:ask hitl:notify"


@dataclass
class _Callback:
    """The loopback listener the relay redirects the browser to."""

    future: asyncio.Future[dict[str, str]]

    async def handle(self, request: Any) -> Any:
        from aiohttp import web

        if not self.future.done():
            self.future.set_result(dict(request.query))
        return web.Response(text="hitl-desk: signed in, you can close this window.", content_type="text/plain")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def login(settings: Settings, url: str, name: str, *, open_browser: bool = True,
                timeout: float = 600.0) -> dict[str, Any]:
    """Run the whole sign-in and keep the token; the stored record (without printing secrets)."""
    import aiohttp
    from aiohttp import web
    from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthMetadata, OAuthToken

    base = url.rstrip("/")
    future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    app = web.Application()
    app.router.add_get("/callback", _Callback(future).handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        redirect = f"http://127.0.0.1:{port}/callback"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            try:
                async with http.get(base + "/.well-known/oauth-authorization-server") as resp:
                    metadata = OAuthMetadata.model_validate_json(await resp.read())
                registration = OAuthClientMetadata.model_validate(dict(
                    client_name=name, redirect_uris=[redirect], grant_types=["authorization_code", "refresh_token"],
                    response_types=["code"], token_endpoint_auth_method="none", scope=SCOPE))
                async with http.post(str(metadata.registration_endpoint),
                                     data=registration.model_dump_json(exclude_none=True),
                                     headers={"Content-Type": "application/json"}) as resp:
                    client = OAuthClientInformationFull.model_validate_json(await resp.read())
            except aiohttp.ClientError as exc:
                raise RelayUnavailableError(f"No relay answered at {base} ({exc.__class__.__name__}).") from exc
            verifier, challenge = _pkce()
            state = secrets.token_urlsafe(24)
            authorize = str(metadata.authorization_endpoint) + "?" + urlencode(dict(
                response_type="code", client_id=client.client_id, redirect_uri=redirect, scope=SCOPE, state=state,
                code_challenge=challenge, code_challenge_method="S256", resource=base + "/"))
            print(f"Open this address to sign in, then allow it at your desk:\n{authorize}", file=sys.stderr)
            if open_browser:
                import webbrowser

                await asyncio.to_thread(webbrowser.open, authorize)  # a BROWSER command may block
            try:
                answer = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise AuthenticationError("Nobody finished the sign-in in time.") from None
            if answer.get("state") != state or answer.get("iss") != str(metadata.issuer):
                raise AuthenticationError("The sign-in answer does not match this sign-in (state or issuer).")
            if "error" in answer:
                raise AuthenticationError(f"Sign-in refused: {answer.get('error_description') or answer['error']}")
            async with http.post(str(metadata.token_endpoint), data=dict(
                    grant_type="authorization_code", code=answer.get("code", ""), redirect_uri=redirect,
                    client_id=client.client_id, code_verifier=verifier, resource=base + "/")) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise AuthenticationError(f"The relay refused the code: {body.decode(errors='replace')[:200]}")
            token = OAuthToken.model_validate_json(body)
    finally:
        await runner.cleanup()
    record = record_of(token.model_dump(), base, client.client_id, str(metadata.token_endpoint))
    write_private(token_path(settings), json.dumps(record, indent=2))
    return record


async def logout(settings: Settings) -> bool:
    """Revoke the stored sign-in at the relay (RFC 7009) and forget it; False when not signed in."""
    import aiohttp

    path = token_path(settings)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    revoke = str(record.get("token_endpoint", "")).rsplit("/", 1)[0] + "/revoke"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await http.post(revoke, data={"token": record.get("refresh_token") or record.get("access_token", "")})
    except aiohttp.ClientError:
        log.warning("could not reach the relay to revoke the sign-in; forgetting it here only")
    path.unlink(missing_ok=True)
    return True
