"""The no-plaintext check itself finds plaintext, in the database files and in the logs."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import LiveRelay
from tests.secrecy import assert_relay_kept_none_of


async def test_the_check_finds_a_plain_notification_in_the_relays_files(relay: LiveRelay) -> None:
    async with await relay.agent("plain-agent") as agent:
        await agent.notify("plain words the relay keeps")
    with pytest.raises(AssertionError, match="found in relay.db"):
        await assert_relay_kept_none_of(relay, "plain words the relay keeps")


async def test_the_check_finds_a_secret_in_the_captured_logs(relay: LiveRelay,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("relay.test").info("a line holding never-stored-secret")
    with pytest.raises(AssertionError, match="logged"):
        await assert_relay_kept_none_of(relay, "never-stored-secret", logs=caplog)
    with pytest.raises(AssertionError, match="logged"):
        await assert_relay_kept_none_of(relay, "never-stored-secret", logs=caplog, loggers=("relay",))
    await assert_relay_kept_none_of(relay, "never-stored-secret", logs=caplog, loggers=("tray",))
