"""The phone approver in a real (headless) Chromium against the live relay's LAN listener on
127.0.0.2: pairing, E2EE answers, answers from elsewhere, restarts and hostile text."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from hitl_desk.device import Device, DeviceList
from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from hitl_desk.errors import RequestCancelledError
from hitl_desk.handshake import DeskHandshake
from hitl_desk.settings import Settings
from relay.lan import lan_listener
from tests.conftest import LiveRelay, start_relay
from tests.hostile import FORBIDDEN, HOSTILE
from tests.pairing import LAN_ADDRESS, desk_keys, lan_relay, lan_url
from tests.phone.browser import browser
from tests.phone.phone_support import pair_phone
from tests.relay.startup_support import free_port
from tests.secrecy import assert_relay_kept_none_of

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
        ready = await page.do("eval", expr="window.hitlReadyAt")
        assert ready < 2500, f"re-opened page live after {ready:.0f} ms"  # goal 1 s; slack for a loaded CI
        for width, height in ((360, 800), (390, 844)):
            for dark in (False, True):
                await page.do("viewport", width=width, height=height)
                await page.do("scheme", dark=dark)
                await page.do("screenshot", path=str(tmp_path / f"2-queue-{width}-{'dark' if dark else 'light'}.png"))
        assert await page.do("errors") == []
        async with relay.owner() as owner:
            await owner.call("DELETE", f"/api/v1/devices/{listed.devices[0].id}", Device)
        await page.do("wait", selector="#error", text="revoked")  # the phone hears it and forgets its keys
        await page.do("reload")
        await page.do("wait", selector="p", text="not paired yet")
        print(f"pairing link loaded in {loaded} ms; re-opened page live (signed WebSocket up) after {ready:.0f} ms")


def _agent(tmp_path: Path, relay: LiveRelay) -> Settings:
    return Settings(home=tmp_path / "agent-home", server_url=relay.url, server_url_set=True)


async def test_an_e2ee_question_is_read_in_the_page_and_a_tapped_choice_reaches_the_agent_sealed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    prompt, choice = "Deploy the **secret-canary-7f3a** build to `prod`?", "ship secret-choice-91b2"
    async with lan_relay(tmp_path) as relay, browser(tmp_path) as page:
        await pair_phone(relay, page)
        agent = AgentEncryption(await relay.agent("deployer"), _agent(tmp_path, relay))
        async with agent.client:
            await page.do("eval", expr="window.buzzed = 0; navigator.vibrate = () => { window.buzzed++; return true; }")
            asked = asyncio.ensure_future(agent.ask(prompt, choices=[choice, "no"], timeout_seconds=120))
            await page.do("wait", selector=".request .choice", text=choice)
            assert "secret-canary-7f3a" in await page.do("text", selector=".request .prompt strong")
            assert await page.do("eval", expr="document.title") == "(1) hitl-desk"
            assert await page.do("eval", expr="window.buzzed") == 1
            await page.do("screenshot", path=str(tmp_path / "3-question.png"))
            await page.do("scheme", dark=True)
            await page.do("screenshot", path=str(tmp_path / "3-question-dark.png"))
            await page.do("viewport", width=360, height=800)
            await page.do("screenshot", path=str(tmp_path / "3-question-360-dark.png"))
            await page.do("click", selector=".request .choice", text=choice)
            assert await asyncio.wait_for(asked, 10) == choice
            await page.do("wait", selector=".request", gone=True)
            await agent.notify("Build secret-note-55c1 is done")
            await page.do("wait", selector="#feed .prompt", text="secret-note-55c1")
        assert await page.do("eval", expr="document.title") == "hitl-desk"
        assert await page.do("errors") == []
        await assert_relay_kept_none_of(relay, "secret-canary-7f3a", "secret-choice-91b2", "secret-note-55c1",
                                        logs=caplog)


async def test_free_text_answers_and_an_answer_from_the_desk_leaves_the_page_and_a_restart_misses_nothing(
        tmp_path: Path) -> None:
    async with lan_relay(tmp_path, lan_port=free_port()) as relay, browser(tmp_path) as page:
        await pair_phone(relay, page)
        agent = AgentEncryption(await relay.agent("writer"), _agent(tmp_path, relay))
        async with agent.client, relay.owner() as owner:
            asked = asyncio.ensure_future(agent.ask("Name the release?", timeout_seconds=120))
            await page.do("wait", selector=".request .prompt", text="Name the release?")
            await page.do("fill", selector=".request textarea", value="Aurora 2")
            await page.do("click", selector=".request .send")
            assert await asyncio.wait_for(asked, 10) == "Aurora 2"
            await page.do("wait", selector=".request", gone=True)

            other = asyncio.ensure_future(agent.ask("Answered at the desk?", choices=["yes", "no"],
                                                    timeout_seconds=120))
            await page.do("wait", selector=".request .prompt", text="Answered at the desk?")
            desk = DeskEncryption.load(relay.settings)
            pending = await owner.list_requests("pending")
            await desk.answer(owner, pending[0], "yes")  # as the TUI's core answers
            assert await asyncio.wait_for(other, 10) == "yes"
            await page.do("wait", selector=".request", gone=True, timeout=3000)

            port, lan_port = relay.running.port, lan_listener(relay.running.app).port
            await relay.running.stop()
            await page.do("wait", selector="#status", text="offline")
            relay.running = await start_relay(relay.home, port, lan=True, lan_addresses=(LAN_ADDRESS,), mdns=False,
                                              lan_port=lan_port)
            late = asyncio.ensure_future(agent.ask("Asked after the restart?", choices=["fine"], timeout_seconds=120))
            await page.do("wait", selector=".request .choice", text="fine", timeout=15000)
            await page.do("wait", selector="#status", text="live")
            await page.do("click", selector=".request .choice", text="fine")
            assert await asyncio.wait_for(late, 10) == "fine"
        errors = await page.do("errors")  # only the reconnects while the relay was down
        assert all("ERR_CONNECTION_REFUSED" in e for e in errors), errors


# The browser's audio output stands in for a speaker nobody hears in a headless test: each beep the
# page starts is counted; the page's own switch, storage and alert logic run unchanged.
_COUNT_BEEPS = """window.beeps = 0; window.buzzed = 0; navigator.vibrate = () => { window.buzzed++; return true; };
window.AudioContext = class { constructor() { this.currentTime = 0; this.destination = {}; }
  createGain() { return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect: (d) => d }; }
  createOscillator() { return { frequency: {}, connect: (g) => g, start: () => { window.beeps++; }, stop() {} }; } };"""


async def test_the_sound_switch_silences_the_beep_but_not_the_vibration_and_stays_off_after_a_reload(
        tmp_path: Path) -> None:
    async with lan_relay(tmp_path) as relay, browser(tmp_path) as page:
        await pair_phone(relay, page)
        agent = AgentEncryption(await relay.agent("builder"), _agent(tmp_path, relay))
        async with agent.client:
            await page.do("eval", expr=_COUNT_BEEPS)
            first = asyncio.ensure_future(agent.ask("Beep for this one?", choices=["ok"], timeout_seconds=120))
            await page.do("wait", selector=".request .choice", text="ok")
            assert await page.do("eval", expr="[window.beeps, window.buzzed]") == [1, 1]
            await page.do("click", selector="#sound", text="Sound: on")
            await page.do("wait", selector="#sound", text="Sound: off")
            await page.do("click", selector=".request .choice", text="ok")
            assert await asyncio.wait_for(first, 10) == "ok"

            await page.do("reload")  # the choice is kept on the phone
            await page.do("wait", selector="#status", text="live")
            assert await page.do("text", selector="#sound") == "Sound: off"
            await page.do("eval", expr=_COUNT_BEEPS)
            second = asyncio.ensure_future(agent.ask("Silent this time?", choices=["ok"], timeout_seconds=120))
            await page.do("wait", selector=".request .choice", text="ok")
            assert await page.do("eval", expr="[window.beeps, window.buzzed]") == [0, 1]
            await page.do("click", selector=".request .choice", text="ok")
            assert await asyncio.wait_for(second, 10) == "ok"
        assert await page.do("errors") == []


async def test_hostile_agent_text_renders_inert_and_escaped(tmp_path: Path) -> None:
    html = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    async with lan_relay(tmp_path) as relay, browser(tmp_path) as page:
        await pair_phone(relay, page)
        agent = AgentEncryption(await relay.agent("<i>evil</i>\u202e"), _agent(tmp_path, relay))
        async with agent.client:
            prompt = html + "\n" + "\n".join(HOSTILE.values())
            asked = asyncio.ensure_future(agent.ask(prompt, choices=[html, HOSTILE["bidi_override"]],
                                                    timeout_seconds=120))
            await page.do("wait", selector=".request .choice")
            shown = await page.do("text", selector=".request")
            await page.do("screenshot", path=str(tmp_path / "4-hostile.png"))
            assert await page.do("eval", expr="window.pwned === undefined") is True
            assert await page.do("count", selector=".request img, .request script, .request b, .request i") == 0
            assert "<script>window.pwned=2</script>" in shown and "<i>evil</i>\\u202e" in shown
            assert not FORBIDDEN.search(shown)
            assert "yes\\u202e on sey\\u202c" in shown and "\\x1b]0;pwned title\\x07" in shown
            await page.do("click", selector=".request .cancel")  # Dismiss: the agent hears it was cancelled
            with pytest.raises(RequestCancelledError):
                await asyncio.wait_for(asked, 10)
            await page.do("wait", selector=".request", gone=True)


async def test_codes_that_differ_stop_the_pairing_on_the_page_with_its_reason(tmp_path: Path) -> None:
    async with lan_relay(tmp_path) as relay, browser(tmp_path) as page, relay.owner() as owner:
        desk = DeskHandshake(owner, await desk_keys(relay), lan_url(relay))
        link = await desk.start()
        await page.do("goto", url=link.url)
        await desk.device_joined()
        await desk.reveal()
        await page.do("wait", selector="#code")
        await desk.stop("codes_differ")
        await page.do("wait", selector="#error")
        assert await page.do("eval", expr="document.body.dataset.status") == "pairing failed"
        await page.do("goto", url=link.url)  # a used link fails loudly too
        await page.do("wait", selector="#error")
