"""The phone approver in a real (headless) Chromium against the live relay's LAN listener on
127.0.0.2: pairing, E2EE answers, answers from elsewhere, restarts and hostile text."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from hitl_desk.device import DeviceList
from tests.pairing import lan_relay, lan_url
from tests.phone.browser import browser
from tests.phone.phone_support import pair_phone

pytestmark = pytest.mark.slow


async def test_the_pairing_link_shows_the_desks_code_and_reaches_the_queue_and_reopening_needs_no_pairing(
        tmp_path: Path) -> None:
    async with lan_relay(tmp_path) as relay, browser(tmp_path) as page:
        loaded, _ = await pair_phone(relay, page, str(tmp_path))
        assert await page.do("eval", expr="location.hash") == ""  # the secret left the address bar
        await page.do("screenshot", path=str(tmp_path / "2-queue-empty.png"))
        async with relay.owner() as owner:
            listed = await owner.call("GET", "/api/v1/devices", DeviceList)
        assert len(listed.devices) == 1
        await page.do("newPage")
        await page.do("goto", url=lan_url(relay) + "/")  # re-opened: the credential is in IndexedDB
        await page.do("wait", selector="h2", text="Nothing waiting")
        await page.do("wait", selector="#status", text="live")
        assert await page.do("errors") == []
        print(f"first load of the pairing link: {loaded} ms")


async def test_the_page_and_assets_carry_a_strict_csp_and_only_the_lan_listener_serves_them(tmp_path: Path) -> None:
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
