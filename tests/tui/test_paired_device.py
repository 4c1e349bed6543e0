"""The TUI on a second desktop paired as a device: it follows the desk's relay with signed
requests, shows an encrypted question decrypted with the desk key it received, and seals the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hitl_desk.device_client import DeviceClient
from hitl_desk.e2ee import AgentEncryption
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.pairing import install_device, lan_relay, pair_device
from tests.secrecy import assert_relay_kept_none_of
from tests.tui.test_e2ee import SIZE, desk_key_made, home_settings
from tests.tui.test_pilot import row_texts
from tui.app import HitlDeskApp

SECRET = "Merge the narwhal-ledger migration before the audit?"
CHOICES = ["merge-now-ibex", "after-audit-tapir"]


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


async def test_the_tui_of_a_paired_device_reads_and_answers_a_sealed_question(relay: LiveRelay,
                                                                              tmp_path: Path) -> None:
    credential, desk = await pair_device(relay, "laptop")
    settings = install_device(tmp_path / "laptop-home", credential, desk)
    agent = AgentEncryption(await relay.agent("audit-agent"), home_settings(tmp_path / "agent-home", relay))
    async with DeviceClient(credential) as device, agent.client:
        app = HitlDeskApp(device, url=relay.url, settings=settings)
        async with app.run_test(size=SIZE) as pilot:
            await desk_key_made(app, pilot)
            asked = asyncio.create_task(agent.ask(SECRET, choices=CHOICES))
            await until(lambda: any(SECRET in t for t in row_texts(app)), what="decrypted row", pilot=pilot)
            await pilot.press("enter")
            await pilot.press("2")
            async with asyncio.timeout(10):
                assert await asked == CHOICES[1]
    await assert_relay_kept_none_of(relay, SECRET, *CHOICES)
