"""``hitl-desk pair`` end to end: the desk shows a link and a code, a second HITL_HOME joins with
``hitl-desk pair URL`` and shows the same code, the human says yes, and that second desktop then
reads and answers an agent's end-to-end encrypted question; the relay keeps no plaintext."""

from __future__ import annotations

import asyncio
import re
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hitl_desk.e2ee import AgentEncryption
from hitl_desk.settings import Settings
from tests.conftest import LiveRelay
from tests.core.test_cli_e2ee import env_for, hitl_desk
from tests.deadline import until
from tests.pairing import lan_relay, lan_url
from tests.secrecy import assert_relay_kept_none_of

SECRET = "Rotate the staging-cluster-omega signing key tonight?"
ANSWER = "after the quokka-freeze review"
CODE = re.compile(r"Verification code: (\d{3} \d{3})")


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A live relay whose LAN listener (on 127.0.0.2) serves the devices."""
    async with lan_relay(tmp_path) as live:
        yield live


async def _spawn(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _read_until(stream: asyncio.StreamReader, pattern: re.Pattern[str], seen: list[str]) -> re.Match[str]:
    """Read lines until one matches (everything read is kept in ``seen`` for the failure message)."""
    async with asyncio.timeout(20):
        while True:
            line = (await stream.readline()).decode()
            seen.append(line)
            assert line, "".join(seen)
            found = pattern.search(line)
            if found:
                return found


async def _pair(relay: LiveRelay, device_home: Path, answer: str) -> tuple[str, str, int, int, str]:
    """Run both pair commands; the codes each showed, both exit codes, and the device's stderr."""
    desk = await _spawn("pair", env=env_for(relay.home, relay.url))
    device: asyncio.subprocess.Process | None = None
    try:
        assert desk.stdout and desk.stderr and desk.stdin
        seen: list[str] = []
        link = (await _read_until(desk.stdout, re.compile(r"^http://\S+/pair#\S+$"), seen)).group(0)
        device_env = env_for(device_home, relay.url)
        del device_env["HITL_SERVER_URL"]  # the link says where the relay is
        device = await _spawn("pair", link, "--name", "laptop", env=device_env)
        assert device.stderr
        device_seen: list[str] = []
        device_code = (await _read_until(device.stderr, CODE, device_seen)).group(1)
        desk_code = (await _read_until(desk.stderr, CODE, seen)).group(1)
        desk.stdin.write(f"{answer}\n".encode())
        await desk.stdin.drain()
        _, device_err = await asyncio.wait_for(device.communicate(), 30)
        await asyncio.wait_for(desk.communicate(), 30)
        assert desk.returncode is not None and device.returncode is not None
        return desk_code, device_code, desk.returncode, device.returncode, "".join(device_seen) + device_err.decode()
    finally:
        for proc in (desk, device):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.slow  # seven CLI processes: about 6 s
async def test_a_second_desktop_pairs_and_answers_an_encrypted_question(relay: LiveRelay, tmp_path: Path) -> None:
    device_home = tmp_path / "laptop-home"
    desk_code, device_code, desk_exit, device_exit, device_err = await _pair(relay, device_home, "y")
    assert desk_code == device_code
    assert (desk_exit, device_exit) == (0, 0), device_err
    for name in ("device.json", "desk.key"):
        assert stat.S_IMODE((device_home / name).stat().st_mode) == 0o600
    assert (device_home / "desk.key").read_text() == (relay.home / "desk.key").read_text()

    async with await relay.agent("ops-agent") as agent_client:
        agent = AgentEncryption(agent_client, Settings(home=tmp_path / "agent-home", server_url=relay.url))
        asking = asyncio.ensure_future(agent.ask(SECRET, choices=["now", "later"]))
        device_env = {k: v for k, v in env_for(device_home, relay.url).items() if k != "HITL_SERVER_URL"}

        async def listed() -> str:
            _, out, err = await hitl_desk("pending", env=device_env)
            assert not asking.done(), asking.result()
            return next((line for line in out.splitlines() if SECRET in line), "")

        line = await until(listed, "the sealed question on the second desktop", timeout=20, interval=0.1)
        assert "🔒" in line and "now | later" in line
        code, _, err = await hitl_desk("answer", line.split()[0], ANSWER, env=device_env)
        assert code == 0 and "sealed" in err, err
        assert await asyncio.wait_for(asking, 20) == ANSWER
        desk_env = env_for(relay.home, relay.url)
        code, out, _ = await hitl_desk("devices", "list", env=desk_env)
        assert code == 0 and "laptop" in out and "active" in out
        code, _, err = await hitl_desk("devices", "revoke", out.split()[0], env=desk_env)
        assert code == 0 and "revoked" in err
        code, _, err = await hitl_desk("pending", env=device_env)
        assert code == 6 and "revoked" in err  # refused at once, with the catalog's words
    await assert_relay_kept_none_of(relay, SECRET, ANSWER)


@pytest.mark.slow  # two CLI processes: about 2 s
async def test_saying_the_codes_differ_stops_both_commands_and_shares_nothing(relay: LiveRelay,
                                                                              tmp_path: Path) -> None:
    device_home = tmp_path / "laptop-home"
    desk_code, device_code, desk_exit, device_exit, device_err = await _pair(relay, device_home, "n")
    assert desk_code == device_code
    assert (desk_exit, device_exit) == (1, 1)
    assert "codes differ" in device_err
    assert not (device_home / "desk.key").exists() and not (device_home / "device.json").exists()
    code, out, _ = await hitl_desk("devices", "list", env=env_for(relay.home, relay.url))
    assert (code, out) == (0, "")


async def test_a_paired_home_approves_with_its_device_credential_and_the_desk_with_the_owners(
        relay: LiveRelay, tmp_path: Path) -> None:
    from hitl_desk.device_client import DeviceClient, approver_client
    from tests.pairing import install_device, pair_device

    credential, desk = await pair_device(relay, "laptop")
    paired = install_device(tmp_path / "laptop-home", credential, desk)
    async with approver_client(Settings(home=paired.home), None) as client:
        assert isinstance(client, DeviceClient) and client.base_url == lan_url(relay)
        assert await client.desk_public_key() == desk.public_key
    async with approver_client(relay.settings, relay.url) as client:
        assert not isinstance(client, DeviceClient) and client.credential == relay.owner_token
