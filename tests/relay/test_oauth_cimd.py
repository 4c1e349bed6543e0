"""Client ID Metadata Documents: the SDK's client signs in with an https URL as its client_id.

The document is served over TLS on loopback by the test, with a certificate the relay is told to
trust (``oauth_cimd_cafile``); nothing leaves the machine.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp.types import TextContent

from tests.approver import ScriptedApprover
from tests.conftest import live_relay
from tests.relay.oauth_support import SdkClient, is_consent, register_client


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@asynccontextmanager
async def document_server(folder: Path, document: dict[str, object]) -> AsyncIterator[str]:
    """Serve ``document`` at https://127.0.0.1:PORT/oauth/client.json; yields that URL (filled in)."""
    cert, key = _certificate(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    served: dict[str, object] = {}

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(served)

    app = web.Application()
    app.router.add_get("/oauth/client.json", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}/oauth/client.json"
    served.update({**document, "client_id": document.get("client_id", url)})
    try:
        yield url
    finally:
        await runner.cleanup()


async def test_sdk_client_with_a_metadata_document_url_signs_in_without_registering(tmp_path: Path) -> None:
    doc = {"client_name": "Claude Code (test)", "redirect_uris": ["http://127.0.0.1/callback"],
           "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
           "token_endpoint_auth_method": "none"}
    async with document_server(tmp_path, doc) as url:
        async with live_relay(tmp_path, oauth_cimd_cafile=tmp_path / "cert.pem") as relay:
            client = SdkClient(relay, client_metadata_url=url)
            async with relay.owner() as owner, ScriptedApprover(
                    owner, lambda r: "Allow" if is_consent(r) else "green") as human:
                async with client.session(f"{relay.url}/mcp") as mcp:
                    result = await mcp.call_tool("request_human_input", {"prompt": "Colour?"})
            assert isinstance(result.content[0], TextContent) and "green" in result.content[0].text
            assert client.storage.client is not None and client.storage.client.client_id == url
            consent = next(e.request for e in human.events if is_consent(e.request))
            assert consent.agent_name == "Claude Code (test)"
            async with relay.owner() as owner:
                assert [c.client_id for c in await owner.list_oauth_clients()] == [url]


@pytest.mark.parametrize("change", [{"client_id": "https://127.0.0.1/elsewhere.json"}, {"client_secret": "s"},
                                    {"redirect_uris": ["http://evil.example/cb"]}])
async def test_a_document_that_does_not_name_itself_or_carries_a_secret_is_no_client(
        tmp_path: Path, change: dict[str, object]) -> None:
    doc = {"client_name": "bad", "redirect_uris": ["http://127.0.0.1/callback"], **change}
    async with document_server(tmp_path, doc) as url:
        async with live_relay(tmp_path, oauth_cimd_cafile=tmp_path / "cert.pem") as relay:
            status, _ = await register_client(relay, ["http://127.0.0.1/callback"])  # DCR still works
            query = f"response_type=code&client_id={url}&redirect_uri=http://127.0.0.1:5/callback&code_challenge=x"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{relay.url}/api/v1/oauth/authorize?{query}", allow_redirects=False) as resp:
                    body = await resp.json()
    assert status == 201 and (resp.status, body["error"]) == (400, "invalid_request")
