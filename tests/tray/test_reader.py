"""TrayReader with real keys and envelopes, no relay: the tray never answers what it could not read.

What every approver reads (and how often) is tested once, in ``tests/core/test_reading.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair
from hitl_desk.errors import KeyMissingError
from hitl_desk.settings import Settings
from tests.core.test_reading import desk_home, sealed
from tray.reader import TrayReader


def test_the_tray_reads_with_the_desk_key_in_its_home(tmp_path: Path) -> None:
    settings = desk_home(tmp_path / "desk")
    view = TrayReader(settings).view(sealed(settings, KeyPair.generate()))
    assert view.readable and view.request.prompt == "Deploy?"
    assert not TrayReader(None).has_desk_key


async def test_an_unreadable_request_is_not_answered_and_nothing_is_sent(tmp_path: Path) -> None:
    request = sealed(desk_home(tmp_path / "desk"), KeyPair.generate())
    reader = TrayReader(Settings(home=tmp_path / "no-desk-key"))
    assert reader.view(request).problem == "no desk key on this approver"
    async with RelayClient("http://127.0.0.1:9", "unused") as nowhere:  # would fail if called
        with pytest.raises(KeyMissingError, match="does not have the desk key"):
            await reader.answer(nowhere, request, "Yes")
