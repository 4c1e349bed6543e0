"""Client ID Metadata Documents: a client whose ``client_id`` is an https URL describes itself there.

Claude Code (since 2.1.81) and other MCP clients use this instead of registering when the
authorization server advertises ``client_id_metadata_document_supported``.  The relay fetches the
document once per ten minutes: https only, no redirects, at most 5 KB, a few seconds; its
``client_id`` must be the URL itself, and it may not carry a secret.  The document is read with
the mcp SDK's ``OAuthClientMetadata`` and kept as an ``OAuthClientInformationFull`` (a public
client), so the rest of the server treats it like a registered client.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from mcp.server.auth.provider import RegistrationError
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata
from pydantic import ValidationError

from relay.oauth.clients import check_redirect

log = logging.getLogger(__name__)
MAX_BYTES = 5 * 1024
FETCH_SECONDS = 5.0
CACHE_SECONDS = 600.0


def is_metadata_url(client_id: str) -> bool:
    """Whether a client id names a metadata document (an https URL with a path)."""
    try:
        parts = urlsplit(client_id)
    except ValueError:
        return False
    return (parts.scheme == "https" and bool(parts.hostname) and parts.path not in ("", "/")
            and not parts.fragment and parts.username is None and parts.password is None)


class MetadataDocuments:
    """Fetches and remembers client metadata documents."""

    def __init__(self, cafile: Path | None = None) -> None:
        self._ssl = ssl.create_default_context()  # the system's CAs
        if cafile is not None:
            self._ssl.load_verify_locations(cafile=str(cafile))
        self._known: dict[str, tuple[float, OAuthClientInformationFull]] = {}

    async def client(self, url: str) -> OAuthClientInformationFull | None:
        """The client the document at ``url`` describes; None when it cannot be fetched or is not valid."""
        now = time.monotonic()
        known = self._known.get(url)
        if known is not None and now - known[0] < CACHE_SECONDS:
            return known[1]
        client = await self._fetch(url)
        if client is not None:
            if len(self._known) > 1000:
                self._known.clear()
            self._known[url] = (now, client)
        return client

    async def _fetch(self, url: str) -> OAuthClientInformationFull | None:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_SECONDS)) as http:
                async with http.get(url, ssl=self._ssl, allow_redirects=False,
                                    headers={"Accept": "application/json"}) as resp:
                    body = await resp.content.read(MAX_BYTES + 1)
                    if resp.status != 200 or len(body) > MAX_BYTES:
                        log.info("client metadata document %s: status %s, %d bytes", url, resp.status, len(body))
                        return None
            data = json.loads(body)
            if not isinstance(data, dict) or data.get("client_id") != url or "client_secret" in data:
                log.info("client metadata document %s does not name itself or carries a secret", url)
                return None
            metadata = OAuthClientMetadata.model_validate(data)
            for uri in metadata.redirect_uris or []:
                check_redirect(str(uri))
        except (aiohttp.ClientError, TimeoutError, ValueError, ValidationError, RegistrationError) as exc:
            log.info("client metadata document %s refused: %s", url, exc.__class__.__name__)
            return None
        return OAuthClientInformationFull(
            **metadata.model_dump(exclude={"token_endpoint_auth_method", "grant_types", "response_types"},
                                  exclude_none=True),
            client_id=url, token_endpoint_auth_method="none", grant_types=["authorization_code", "refresh_token"],
            response_types=["code"])
