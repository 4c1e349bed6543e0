"""Pairing from the TUI against the live relay (LAN listener on 127.0.0.2) and a real device side:
the QR code and link shown, the device's code shown escaped, the human's y or n, the desk key
delivered sealed, and the new device answering a sealed question."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import segno
from textual.pilot import Pilot
from textual.widgets import Static

from hitl_desk.approver import Approver
from hitl_desk.client import RelayClient
from hitl_desk.device import DeviceList, PairingState
from hitl_desk.device_client import DeviceClient
from hitl_desk.e2ee import AgentEncryption
from hitl_desk.errors import PairingCodeMismatchError, PairingUsedError
from hitl_desk.handshake import DeviceHandshake
from hitl_desk.pair_desk import spaced
from hitl_desk.pairing import PairingLink
from tests.conftest import LiveRelay, live_relay
from tests.deadline import until
from tests.hostile import FORBIDDEN
from tests.pairing import install_device, lan_relay
from tests.secrecy import assert_relay_kept_none_of
from tests.tui.test_e2ee import desk_app, desk_key_made, home_settings
from tui.app import HitlDeskApp
from tui.screens.keys import KeysScreen
from tui.screens.pairing import PairingModal, qr_text

SIZE = (100, 40)
NAME = "[bold red]phone[/] \x1b[2J\u202eenohp"
SECRET = "Rotate the walrus-vault credentials tonight?"
CHOICES = ["rotate-now-okapi", "wait-quokka"]


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


def shown(modal: PairingModal, widget_id: str) -> str:
    """What a Static of the dialog draws, as text."""
    return str(modal.query_one(widget_id, Static).render())


async def open_pairing(app: HitlDeskApp, pilot: Pilot[None]) -> tuple[PairingModal, PairingLink]:
    """Keys section, ``p``: the dialog with its QR code and link; the link as the human reads it."""
    await desk_key_made(app, pilot)
    await pilot.press("k", "p")
    assert isinstance(app.screen_stack[-2], KeysScreen)
    modal = app.screen
    assert isinstance(modal, PairingModal)
    await until(lambda: modal.link is not None, what="the pairing link shown", pilot=pilot)
    link = PairingLink.parse(shown(modal, "#pair-link"))
    assert link.device_url.startswith("http://127.0.0.2:")
    assert shown(modal, "#pair-qr") == qr_text(modal.link.url if modal.link else "")
    return modal, link


def test_the_qr_text_is_the_code_of_the_link() -> None:
    text = "http://127.0.0.2:4000/pair#p=pair_00&s=AAAAAAAAAAAAAAAAAAAAAA"
    matrix = [list(row) for row in segno.make(text, error="l").matrix_iter(border=2)]
    lines = qr_text(text).split("\n")
    assert len(lines) == (len(matrix) + 1) // 2 and {len(x) for x in lines} == {len(matrix[0])}
    for y, row in enumerate(matrix):  # a light module is drawn (the dialog shows light on dark)
        for x, dark in enumerate(row):
            char = lines[y // 2][x]
            drawn = char == "█" or char == ("▀" if y % 2 == 0 else "▄")
            assert drawn is (not dark)


async def test_the_tui_pairs_a_device_that_then_answers_a_sealed_question(relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        app = desk_app(owner, relay)
        async with app.run_test(size=SIZE) as pilot:
            modal, link = await open_pairing(app, pilot)
            async with RelayClient(link.device_url) as anonymous:
                device = DeviceHandshake(anonymous, link, NAME)
                await device.join()
                device_code = await device.code()
                await until(lambda: modal.joined is not None, what="the device's code shown", pilot=pilot)
                status = shown(modal, "#pair-status")
                assert spaced(device_code) in status and "[bold red]phone[/]" in status
                assert not FORBIDDEN.search(status)
                await pilot.press("y")
                credential, desk = await device.finish()
            await until(lambda: not isinstance(app.screen, PairingModal), what="the dialog closed", pilot=pilot)
    assert modal.paired is not None and modal.paired.device_id == credential.device_id
    settings = install_device(tmp_path / "phone-home", credential, desk)
    agent = AgentEncryption(await relay.agent("vault-agent"), home_settings(tmp_path / "agent-home", relay))
    async with DeviceClient(credential) as phone, agent.client:
        asked = asyncio.create_task(agent.ask(SECRET, choices=CHOICES))
        approver = Approver(phone, settings)
        pending = await until(lambda: phone.list_requests("pending"), what="the question reached the device")
        await approver.answer(pending[0], CHOICES[0])
        async with asyncio.timeout(10):
            assert await asked == CHOICES[0]
    await assert_relay_kept_none_of(relay, SECRET, *CHOICES)


async def test_codes_that_differ_stop_the_pairing_on_both_sides(relay: LiveRelay) -> None:
    async with relay.owner() as owner:
        app = desk_app(owner, relay)
        async with app.run_test(size=SIZE) as pilot:
            modal, link = await open_pairing(app, pilot)
            async with RelayClient(link.device_url) as anonymous:
                device = DeviceHandshake(anonymous, link, "tablet")
                await device.join()
                await device.code()
                await until(lambda: modal.joined is not None, what="the device's code shown", pilot=pilot)
                await pilot.press("n")
                with pytest.raises(PairingCodeMismatchError):
                    await device.finish()
            await until(lambda: modal.failed is not None, what="the refusal shown", pilot=pilot)
            assert "codes differ" in shown(modal, "#pair-status")
            await pilot.press("escape")
            assert isinstance(app.screen, KeysScreen)
        devices = await owner.call("GET", "/api/v1/devices", DeviceList)
    assert devices.devices == []


async def test_closing_the_dialog_cancels_the_pairing_on_the_relay(relay: LiveRelay) -> None:
    async with relay.owner() as owner:
        app = desk_app(owner, relay)
        async with app.run_test(size=SIZE) as pilot:
            modal, link = await open_pairing(app, pilot)
            await pilot.press("escape")
            assert isinstance(app.screen, KeysScreen)

            async def stopped() -> bool:
                state = await owner.call("GET", f"/api/v1/devices/pairings/{link.pairing_id}", PairingState)
                return state.status == "failed"

            await until(stopped, what="the pairing cancelled on the relay", pilot=pilot)
        async with RelayClient(link.device_url) as anonymous:
            with pytest.raises(PairingUsedError):  # the link is void: it worked once, and is spent
                await DeviceHandshake(anonymous, link, "late-phone").join()


async def test_without_the_lan_listener_the_dialog_says_how_to_turn_it_on(tmp_path: Path) -> None:
    async with live_relay(tmp_path) as plain, plain.owner() as owner:
        app = desk_app(owner, plain)
        async with app.run_test(size=SIZE) as pilot:
            await desk_key_made(app, pilot)
            await pilot.press("k", "p")
            modal = app.screen
            assert isinstance(modal, PairingModal)
            await until(lambda: modal.failed is not None, what="the refusal shown", pilot=pilot)
            status = shown(modal, "#pair-status")
            assert "--lan" in status and "(v, then l)" in status
