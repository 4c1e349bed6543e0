"""The TUI's list of clients signed in with OAuth (keys section, ``o``): shown escaped, revoked from the UI."""

from __future__ import annotations

import aiohttp
from textual.widgets import DataTable

from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.relay.oauth_support import authorized_code, exchange_code, pkce_pair, register_client
from tests.tui.sync import first_sync
from tui.app import HitlDeskApp
from tui.screens.keys import KeysScreen
from tui.screens.modals import ConfirmModal
from tui.screens.oauth import OAuthClientsModal

SIZE = (100, 30)
NAME = "[bold]Evil[/] \x1b[2Jclient"


async def test_oauth_clients_are_listed_escaped_and_revoking_one_refuses_its_token(
        relay: LiveRelay, owner: RelayClient) -> None:
    _, registered = await register_client(relay, ["http://127.0.0.1/callback"], name=NAME)
    verifier, challenge = pkce_pair()
    code = (await authorized_code(relay, registered["client_id"], challenge))["code"]
    _, tokens = await exchange_code(relay, registered["client_id"], code, verifier)
    app = HitlDeskApp(owner, url=relay.url)
    async with app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        await pilot.press("k")
        assert isinstance(app.screen, KeysScreen)
        await pilot.press("o")
        modal = app.screen
        assert isinstance(modal, OAuthClientsModal)
        await until(lambda: len(modal.clients) == 1, what="the client listed", pilot=pilot)
        table = modal.query_one(DataTable)
        shown = str(table.get_row_at(0)[0])
        assert "\x1b" not in shown and "[bold]Evil[/]" in shown
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await until(lambda: modal.clients == [], what="the client revoked", pilot=pilot)
    async with aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/mcp", json={},
                             headers={"Authorization": f"Bearer {tokens['access_token']}"}) as resp:
            assert resp.status == 401
