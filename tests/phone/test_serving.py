"""What the LAN listener serves of the phone app (no browser): headers, paths, and the page a
relay installed without Node.js shows instead."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from relay.lan import phone
from tests.pairing import lan_relay, lan_url


async def test_the_page_and_assets_carry_a_strict_csp_and_only_the_lan_listener_serves_them(tmp_path: Path) -> None:
    if not (phone.DIST / "app.js").is_file():
        missing = pytest.fail if os.environ.get("CI") == "true" else pytest.skip
        missing("the phone app is not built: scripts/build-web")
    async with lan_relay(tmp_path) as relay, aiohttp.ClientSession() as http:
        for path in ("/pair", "/", "/app/app.js", "/app/style.css"):
            async with http.get(lan_url(relay) + path) as resp:
                assert resp.status == 200, path
                assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(lan_url(relay) + "/app/..%2Fpackage.json") as resp:
            assert resp.status == 404
        async with http.get(relay.url + "/pair") as resp:
            assert resp.status == 404  # the loopback listener serves no phone app


async def test_without_a_built_app_the_pair_page_says_how_to_build_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phone, "DIST", tmp_path / "never-built")  # a relay installed without Node.js
    async with lan_relay(tmp_path) as relay, aiohttp.ClientSession() as http:
        async with http.get(lan_url(relay) + "/pair") as resp:
            assert resp.status == 503
            assert "scripts/build-web" in await resp.text()
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
        async with http.get(lan_url(relay) + "/app/app.js") as resp:
            assert resp.status == 404
