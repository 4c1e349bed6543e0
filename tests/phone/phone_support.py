"""Pairing the browser with the desk in the phone tests: the desk's end runs in this process (the
owner confirming the code, as another approver does), the device's end is the page."""

from __future__ import annotations

from hitl_desk.handshake import DeskHandshake
from tests.conftest import LiveRelay
from tests.pairing import desk_keys, lan_url
from tests.phone.browser import Browser


async def pair_phone(relay: LiveRelay, page: Browser, shots: str | None = None) -> tuple[int, str]:
    """Open the pairing link in the page, check its code against the desk's, confirm on the desk,
    and wait for the queue; the milliseconds the link took to load, and the code."""
    async with relay.owner() as owner:
        desk = DeskHandshake(owner, await desk_keys(relay), lan_url(relay))
        link = await desk.start()
        loaded = await page.do("goto", url=link.url)
        await desk.device_joined()
        code = await desk.reveal()
        await page.do("wait", selector="#code")
        shown = await page.do("text", selector="#code")
        assert shown.replace(" ", "") == code
        if shots:
            await page.do("screenshot", path=f"{shots}/1-pairing-code.png")
        await desk.confirm(code)
    await page.do("wait", selector="h2", text="Nothing waiting")
    return int(loaded), code
