"""``--lan-tls``: the relay's own CA and a listener certificate for exactly its addresses, checked by
a real TLS handshake on loopback (trusted with the CA, refused without it)."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hitl_desk.discovery import _found, advert_properties
from hitl_desk.handshake import DeskHandshake
from relay.command import config_from_args
from relay.tls import CA_PATH, LanTls
from tests.pairing import LAN_ADDRESS, desk_keys, lan_relay, lan_url
from tests.relay.test_lan import relay_args


async def _serve(context: ssl.SSLContext) -> tuple[web.AppRunner, int]:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello over tls")

    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def test_a_client_trusting_the_relays_ca_verifies_the_listener_and_one_without_it_refuses(
        tmp_path: Path) -> None:
    tls = LanTls.of(tmp_path)
    runner, port = await _serve(tls.server_context(["127.0.0.1"]))
    try:
        trusting = ssl.create_default_context(cafile=str(tls.ca_cert))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/", ssl=trusting) as resp:
                assert await resp.text() == "hello over tls"
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"https://127.0.0.1:{port}/", ssl=ssl.create_default_context())
    finally:
        await runner.cleanup()
    for secret in (tls.ca_key, tls.key):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_the_certificate_follows_the_addresses_and_the_ca_stays(tmp_path: Path) -> None:
    tls = LanTls.of(tmp_path)
    tls.ensure(["192.0.2.10"])
    ca, first = tls.ca_cert.read_bytes(), tls.cert.read_bytes()
    tls.ensure(["192.0.2.10"])
    assert tls.cert.read_bytes() == first  # nothing changed: nothing reissued
    tls.ensure(["192.0.2.11"])
    assert tls.cert.read_bytes() != first and tls.ca_cert.read_bytes() == ca  # the phone keeps trusting the CA
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=380)
    renewed = tls.cert.read_bytes()
    tls.ensure(["192.0.2.11"], now=soon)
    assert tls.cert.read_bytes() != renewed  # renewed ahead of expiry


async def test_the_lan_listener_serves_the_ca_for_installation_once_there_is_one(tmp_path: Path) -> None:
    async with lan_relay(tmp_path) as relay, aiohttp.ClientSession() as http:
        async with http.get(lan_url(relay) + CA_PATH) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (404, "not_found")
        LanTls.of(relay.home).ensure([LAN_ADDRESS])
        async with http.get(lan_url(relay) + CA_PATH) as resp:
            assert resp.status == 200 and await resp.read() == LanTls.of(relay.home).ca_cert.read_bytes()


def test_the_lan_tls_flag_makes_a_tls_lan_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_HOME", str(tmp_path))
    monkeypatch.delenv("HITL_LAN", raising=False)
    monkeypatch.delenv("HITL_SERVER_URL", raising=False)
    config = config_from_args(relay_args("--lan-tls", "--lan-address", LAN_ADDRESS))  # type: ignore[arg-type]
    assert (config.lan, config.lan_tls, config.lan_addresses) == (True, True, (LAN_ADDRESS,))
    plain = config_from_args(relay_args("--lan"))  # type: ignore[arg-type]
    assert (plain.lan, plain.lan_tls) == (True, False)


async def test_with_lan_tls_the_lan_listener_speaks_tls_verified_against_the_ca_it_serves(tmp_path: Path) -> None:
    async with lan_relay(tmp_path, lan_tls=True) as relay, aiohttp.ClientSession() as http:
        url = lan_url(relay)
        assert url.startswith(f"https://{LAN_ADDRESS}:")
        tls = LanTls.of(relay.home)
        trusting = ssl.create_default_context(cafile=str(tls.ca_cert))  # what the phone installed
        async with http.get(url + CA_PATH, ssl=trusting) as resp:
            assert resp.status == 200 and await resp.read() == tls.ca_cert.read_bytes()
        async with http.get(url + "/healthz", ssl=trusting, headers={"Origin": url}) as resp:
            assert resp.status == 200  # its own https origin is allowed
        async with http.get(url + "/healthz", ssl=trusting, headers={"Origin": url.replace("https", "http")}) as resp:
            assert (resp.status, (await resp.json())["error"]["code"]) == (403, "origin_not_allowed")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(url + "/healthz", ssl=ssl.create_default_context())  # without the CA: refused
        with pytest.raises(aiohttp.ClientError):
            await http.get(url.replace("https", "http") + "/healthz")  # no plain http on the TLS listener
        async with relay.owner() as owner:  # pairing links carry the https address
            desk = await DeskHandshake(owner, await desk_keys(relay)).start()
        assert desk.url.startswith(url + "/pair#")


def test_the_mdns_txt_says_tls_and_a_browser_of_it_builds_an_https_url() -> None:
    def as_txt(properties: dict[str, str]) -> dict[bytes, bytes | None]:
        return {k.encode(): v.encode() for k, v in properties.items()}

    with_tls = _found("desk._hitl-desk._tcp.local.", [LAN_ADDRESS], 8765, as_txt(advert_properties("ab cd", tls=True)))
    plain = _found("desk._hitl-desk._tcp.local.", [LAN_ADDRESS], 8765, as_txt(advert_properties("ab cd")))
    assert with_tls.url == f"https://{LAN_ADDRESS}:8765" and plain.url == f"http://{LAN_ADDRESS}:8765"
    assert "tls" not in advert_properties("ab cd")  # plain relays' TXT is as before
