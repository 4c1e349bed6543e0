"""Shared fixtures: a real relay on a free loopback port with its data in ``tmp_path``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.settings import Settings
from relay.app import RunningRelay
from relay.context import RelayConfig


@dataclass
class LiveRelay:
    """A relay serving on loopback for one test."""

    running: RunningRelay
    home: Path

    @property
    def url(self) -> str:
        """Its base URL."""
        return self.running.url

    @property
    def settings(self) -> Settings:
        """Settings that point local clients at it."""
        return Settings(home=self.home, server_url=self.url, server_url_set=True)

    @property
    def owner_token(self) -> str:
        """The owner credential it wrote on start."""
        token = self.settings.read_owner_token()
        assert token
        return token

    def owner(self) -> RelayClient:
        """A client holding the owner credential (an approver)."""
        return RelayClient(self.url, self.owner_token)

    async def agent(self, name: str = "test-agent") -> RelayClient:
        """A client holding a fresh API key for the named agent."""
        async with self.owner() as owner:
            created = await owner.create_api_key(name)
        return RelayClient(self.url, created.api_key)


async def start_relay(home: Path, port: int = 0, **config: object) -> RunningRelay:
    """Start a relay with its data in ``home`` (port 0: a free one)."""
    return await RunningRelay(RelayConfig(home=home, host="127.0.0.1", port=port, **config)).start()  # type: ignore[arg-type]


@asynccontextmanager
async def live_relay(tmp_path: Path, **config: Any) -> AsyncIterator[LiveRelay]:
    """A relay in ``tmp_path/home`` configured with ``config``, for the length of the block."""
    live = LiveRelay(await start_relay(tmp_path / "home", **config), tmp_path / "home")
    try:
        yield live
    finally:
        await live.running.stop()  # the test may have restarted it: stop the current one


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A real relay on 127.0.0.1 with a fresh database."""
    async with live_relay(tmp_path) as live:
        yield live


@pytest.fixture
async def owner(relay: LiveRelay) -> AsyncIterator[RelayClient]:
    """An approver's client for the live relay."""
    async with relay.owner() as client:
        yield client
