"""The tray with end-to-end encrypted requests: a live relay, a real agent end, the real bus.

The agent seals with ``AgentEncryption`` on its own home (its key and pins apart from the
desk's); the tray opens each request with the desk key, shows it decrypted and locked, and
seals the answer, so the relay's files never hold the prompt, the choices or the answer.
"""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.crypto import fingerprint
from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from hitl_desk.errors import RequestCancelledError
from hitl_desk.keystore import desk_key_path, load_keypair
from hitl_desk.models import HitlRequest
from hitl_desk.reading import LOCK
from hitl_desk.settings import Settings
from tests import desktop
from tests.conftest import LiveRelay
from tests.deadline import until
from tests.secrecy import assert_relay_kept_none_of
from tests.tray.fake_notifications import FakeNotificationServer, NotifyCall
from tests.tray.test_app import TIMEOUT, launched, terminal
from tests.tray.test_app_icon import labels, pystray_icon, shows, xorg
from tray.app import TrayApp
from tray.notifier import OPEN_LABEL
from tray.state import MenuEntry, shorten
from tray.terminal import TuiLauncher

__all__ = ["launched", "terminal", "xorg"]  # fixtures used here

SECRET_PROMPT = "Rotate the prod database password to hunter2-zebra?"
SECRET_CHOICES = ["rotate-now-walrus", "wait-for-monday-okapi"]
SECRET_PLACEHOLDER = "window-name-narwhal"
SECRET_REPLY = "at midnight, purple-elephant"
CANNOT_READ = f"{LOCK} cannot read: no desk key on this approver"


def approver(relay: LiveRelay, home: Path) -> Settings:
    """Settings of an approver whose desk key (if any) lives in ``home``."""
    return Settings(home=home, server_url=relay.url, server_url_set=True)


async def started(client: RelayClient, settings: Settings, launched: list[list[str]],
                  terminal: Path, **options: Any) -> TrayApp:
    """A TrayApp reading with the desk key of ``settings``, started and synced."""
    launcher = TuiLauncher(client.base_url, spawn=lambda cmd: launched.append(list(cmd)),
                           env={"TERMINAL": str(terminal)})
    tray = TrayApp(client, launcher=launcher, settings=settings, **options)
    await tray.start()
    async with asyncio.timeout(TIMEOUT):
        await tray.synced.wait()
    return tray


@pytest.fixture
async def app(
    relay: LiveRelay, notification_server: FakeNotificationServer, terminal: Path,
    launched: list[list[str]],
) -> AsyncIterator[TrayApp]:
    """A headless tray on the relay's home: the first approver, so it makes the desk key."""
    async with relay.owner() as client:
        tray = await started(client, relay.settings, launched, terminal, make_icon=None)
        try:
            yield tray
        finally:
            await tray.stop()


@pytest.fixture
async def agent(relay: LiveRelay, tmp_path: Path) -> AsyncIterator[AgentEncryption]:
    """The sealing end of an agent named "claude", on a home of its own."""
    client = await relay.agent("claude")
    try:
        yield AgentEncryption(client, approver(relay, tmp_path / "agent-home"))
    finally:
        await client.close()


async def ask(
    agent: AgentEncryption, prompt: str, **options: Any
) -> tuple[asyncio.Task[str], HitlRequest]:
    """Start ``agent.ask``; return the waiting task and the request once the relay took it."""
    created: asyncio.Future[HitlRequest] = asyncio.get_running_loop().create_future()
    asking = asyncio.create_task(agent.ask(prompt, on_created=created.set_result, **options))
    either: list[asyncio.Future[Any]] = [asking, created]
    await asyncio.wait(either, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if asking.done():
        asking.result()  # raises what went wrong
    return asking, created.result()


async def popped_up(app: TrayApp, server: FakeNotificationServer, request: HitlRequest,
                    body: str) -> NotifyCall:
    """Await the notification of ``request`` with ``body``, until the app has it on screen.

    The server sees ``Notify`` before the app sees its reply; a click in between (which a
    test can make, a user cannot) would be for an id the app does not know yet.
    """
    call = await server.wait_for_notify(lambda c: c.body.startswith(body), TIMEOUT)
    notifier = app.notifier
    assert notifier is not None
    await until(lambda: request.id in notifier.shown, "the notification known to be on screen")
    return call


async def assert_relay_kept_no_plaintext(app: TrayApp, relay: LiveRelay,
                                         caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """Stop the tray and the relay, then search the database files and our logs for plaintext."""
    await app.stop()
    await assert_relay_kept_none_of(relay, *secrets, logs=caplog,
                                    loggers=("relay", "hitl_desk", "tray", "aiohttp"))


async def test_the_tray_as_first_approver_makes_and_registers_the_desk_key(
    app: TrayApp, relay: LiveRelay
) -> None:
    path = desk_key_path(relay.settings)
    keys = load_keypair(path)
    assert keys is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert app.reader.has_desk_key
    async with relay.owner() as client:
        assert await client.desk_public_key() == keys.public_key


async def test_an_encrypted_question_pops_up_decrypted_and_locked_and_its_button_answers_it(
    app: TrayApp, agent: AgentEncryption, notification_server: FakeNotificationServer,
    relay: LiveRelay, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    asking, created = await ask(agent, SECRET_PROMPT, choices=SECRET_CHOICES)
    assert created.encrypted and created.prompt == "" and created.choices == []
    call = await popped_up(app, notification_server, created, SECRET_PROMPT)
    assert call.summary == f"{LOCK} claude"
    assert list(call.buttons.values()) == ["", *SECRET_CHOICES]  # "": the body click
    first_use = f"new key {fingerprint(agent.keys.public_key)} · "  # the agent's first request pins its key
    assert app.view.tooltip.endswith(shorten(f"claude: {LOCK} {first_use}{SECRET_PROMPT}"))
    entry = app.view.menu[0]
    assert isinstance(entry, MenuEntry)
    assert entry.label == shorten(f"claude: {LOCK} {first_use}{SECRET_PROMPT}")
    assert [e.label for e in entry.submenu if isinstance(e, MenuEntry)] == [
        *SECRET_CHOICES, OPEN_LABEL]
    notification_server.invoke_action(call.id, call.key_for(SECRET_CHOICES[1]))
    assert await asyncio.wait_for(asking, TIMEOUT) == SECRET_CHOICES[1]
    await until(lambda: app.view.badge == 0, "badge back to 0")
    await assert_relay_kept_no_plaintext(app, relay, caplog, SECRET_PROMPT, *SECRET_CHOICES)


async def test_an_inline_reply_to_an_encrypted_question_reaches_the_agent_sealed(
    app: TrayApp, agent: AgentEncryption, notification_server: FakeNotificationServer,
    relay: LiveRelay, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    asking, created = await ask(agent, SECRET_PROMPT, placeholder=SECRET_PLACEHOLDER)
    call = await popped_up(app, notification_server, created, SECRET_PROMPT)
    assert call.buttons["inline-reply"] == SECRET_PLACEHOLDER
    notification_server.reply(call.id, SECRET_REPLY)
    assert await asyncio.wait_for(asking, TIMEOUT) == SECRET_REPLY
    await assert_relay_kept_no_plaintext(
        app, relay, caplog, SECRET_PROMPT, SECRET_PLACEHOLDER, SECRET_REPLY)


async def test_an_encrypted_completion_is_titled_locked_and_finished_and_can_be_replied_to(
    app: TrayApp, agent: AgentEncryption, notification_server: FakeNotificationServer
) -> None:
    asking, created = await ask(agent, "Refactor done", kind="completion")
    call = await popped_up(app, notification_server, created, "Refactor done")
    assert call.summary == f"{LOCK} claude finished"
    notification_server.reply(call.id, "thanks, ship it")
    assert await asyncio.wait_for(asking, TIMEOUT) == "thanks, ship it"


async def test_an_encrypted_message_shows_decrypted_without_buttons(
    app: TrayApp, agent: AgentEncryption, notification_server: FakeNotificationServer
) -> None:
    await agent.notify("Build green, walrus")
    call = await notification_server.wait_for_notify(
        lambda c: c.body == "Build green, walrus", TIMEOUT)
    assert call.summary == f"{LOCK} claude" and list(call.buttons) == ["default"]
    assert app.view.badge == 0


async def test_an_approver_without_the_desk_key_says_it_cannot_read_and_offers_no_answer(
    relay: LiveRelay, agent: AgentEncryption, notification_server: FakeNotificationServer,
    terminal: Path, launched: list[list[str]], tmp_path: Path,
) -> None:
    async with relay.owner() as desk:
        made = await DeskEncryption.ensure(desk, relay.settings)  # another approver was first
    assert made.keys is not None
    laptop = approver(relay, tmp_path / "laptop")
    async with relay.owner() as client:
        tray = await started(client, laptop, launched, terminal, make_icon=None)
        try:
            asking, created = await ask(agent, SECRET_PROMPT, choices=SECRET_CHOICES)
            call = await popped_up(tray, notification_server, created, CANNOT_READ + "\n")
            assert call.summary == f"{LOCK} claude" and "pair it with the desk" in call.body
            assert list(call.buttons.values()) == ["", OPEN_LABEL]  # no choice, no reply field
            entry = tray.view.menu[0]
            assert isinstance(entry, MenuEntry) and entry.label == shorten(f"claude: {CANNOT_READ}")
            assert entry.submenu == (MenuEntry(OPEN_LABEL, ("open", created.id)),)
            assert tray.view.tooltip.endswith(shorten(f"claude: {CANNOT_READ}"))
            notification_server.invoke_action(call.id, call.key_for(OPEN_LABEL))
            await until(lambda: len(launched) == 1, "the TUI opened")
            assert await tray.answer(created.id, SECRET_CHOICES[0]) is None  # refused, not sent
            await notification_server.wait_for_notify(
                lambda c: c.summary == "hitl-desk: Answer not sent", TIMEOUT)
            assert (await client.get_request(created.id)).status == "pending"
        finally:
            await tray.stop()
        await client.cancel(created.id)
        with pytest.raises(RequestCancelledError):
            await asyncio.wait_for(asking, TIMEOUT)
        assert await client.desk_public_key() == made.keys.public_key  # not replaced
    assert load_keypair(desk_key_path(laptop)) is None  # and no second desk key made


async def test_the_menu_of_the_docked_icon_answers_an_encrypted_request(
    relay: LiveRelay, agent: AgentEncryption, xorg: str, tray_host: desktop.TrayHost,
    notification_server: FakeNotificationServer, terminal: Path, launched: list[list[str]],
) -> None:
    async with relay.owner() as client:
        tray = await started(client, relay.settings, launched, terminal)
        try:
            asking, _ = await ask(agent, SECRET_PROMPT, choices=SECRET_CHOICES)
            await shows(tray, xorg, 1)  # the tooltip, with the lock, is the icon window's name
            first_use = f"new key {fingerprint(agent.keys.public_key)} · "  # its first request pins the key
            assert f"claude: {LOCK} {first_use}" in tray.view.tooltip
            label = shorten(f"claude: {LOCK} {first_use}{SECRET_PROMPT}")
            # The icon thread sets the menu just after the window name: wait for it too.
            await until(lambda: labels(pystray_icon(tray).menu)[0] == label, "the menu updated")
            icon = pystray_icon(tray)
            entry = icon.menu.items[0]
            assert labels(entry.submenu) == [*SECRET_CHOICES, "---", OPEN_LABEL]
            await asyncio.to_thread(entry.submenu.items[0], icon)  # as pystray calls it
            assert await asyncio.wait_for(asking, TIMEOUT) == SECRET_CHOICES[0]
            await shows(tray, xorg, 0)
        finally:
            await tray.stop()
