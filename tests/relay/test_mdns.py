"""The relay's mDNS advert, seen from another process through ``hitl-desk discover``.

Everything stays on ``lo``: the relay advertises on its LAN address 127.0.0.2 and the browsers
listen on 127.0.0.1 (multicast on ``lo`` works without the MULTICAST flag; zeroconf is never
given another interface).  Relays of other tests could be advertised at the same time, so each
check picks its relay out by port.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from hitl_desk.crypto import KeyPair, fingerprint
from hitl_desk.discovery import SERVICE_TYPE, browse, find
from relay.lan import lan_listener
from tests.conftest import live_relay
from tests.hostile import FORBIDDEN, HOSTILE

LAN_ADDRESS = "127.0.0.2"
BROWSE_FROM = "127.0.0.1"
DEADLINE = 10.0


def cli_env() -> dict[str, str]:
    """The environment of a CLI process (no HITL_ settings of the developer's)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}


async def discover(*args: str) -> tuple[int, str, str]:
    """Run ``hitl-desk discover --interface 127.0.0.1 ARGS`` to the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "discover", "--interface", BROWSE_FROM, *args, env=cli_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), DEADLINE + 20)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Watcher:
    """``hitl-desk discover --watch --json`` in another process, read one change at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []

    async def change(self, port: int, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next change of the relay on ``port`` that ``matches`` (others are skipped)."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(DEADLINE):
                while True:
                    line = await self.proc.stdout.readline()
                    assert line, f"the watcher exited; it printed {self.seen}"
                    change: dict[str, Any] = json.loads(line)
                    self.seen.append(change)
                    if change["port"] == port and matches(change):
                        return change
        except TimeoutError:
            raise AssertionError(f"no such change in {DEADLINE:g} s; the watcher printed {self.seen}") from None


@asynccontextmanager
async def watching() -> AsyncIterator[Watcher]:
    """A watcher process for the length of the block."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "discover", "--watch", "--json", "--interface", BROWSE_FROM,
        env=cli_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        yield Watcher(proc)
    finally:
        proc.kill()
        await proc.wait()


@pytest.mark.slow  # mDNS probing takes about 1.7 s per announcement, and there are three
async def test_advert_is_seen_updated_moved_and_withdrawn_from_another_process(tmp_path: Path) -> None:
    async with watching() as watcher:
        async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,), lan_poll=0.1) as relay:
            lan = lan_listener(relay.running.app)
            added = await watcher.change(lan.port, lambda c: c["change"] == "added")
            assert added["addresses"] == [LAN_ADDRESS] and added["url"] == f"http://{LAN_ADDRESS}:{lan.port}"
            assert (added["version"], added["path"], added["fingerprint"]) == ("1", "/", None)

            desk = KeyPair.generate()
            async with relay.owner() as owner:  # the first approver registers the desk key
                await owner.register_key("user", None, desk.public_key)
            updated = await watcher.change(lan.port, lambda c: c["fingerprint"] is not None)
            assert updated["fingerprint"] == fingerprint(desk.public_key)
            assert desk.private_key not in json.dumps(updated)  # no secret in the TXT record

            await lan.set_addresses(["127.0.0.3"])
            moved = await watcher.change(lan.port, lambda c: c["change"] != "removed")
            assert moved["addresses"] == ["127.0.0.3"] and moved["fingerprint"] == updated["fingerprint"]
        gone = await watcher.change(lan.port, lambda c: c["change"] == "removed")
        assert gone["addresses"] == ["127.0.0.3"]


@pytest.mark.slow  # one mDNS announcement and a CLI process
async def test_discover_lists_the_relay_and_browse_finds_it_in_process(tmp_path: Path) -> None:
    async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,)) as relay:
        port = lan_listener(relay.running.app).port
        found = await browse([BROWSE_FROM], timeout=DEADLINE, count=1)  # returns at the first answer
        assert [(r.url, r.fingerprint) for r in found if r.port == port] == [(f"http://{LAN_ADDRESS}:{port}", None)]
        code, out, err = await discover("--timeout", str(DEADLINE), "--count", "1")
        assert code == 0, err
        assert f"http://{LAN_ADDRESS}:{port}  fp (no desk key yet)  hitl-desk on " in out


@pytest.mark.slow  # two mDNS announcements
async def test_an_approver_finds_its_desk_by_fingerprint_after_the_address_changed(tmp_path: Path) -> None:
    async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,)) as relay:
        desk = KeyPair.generate()
        async with relay.owner() as owner:
            await owner.register_key("user", None, desk.public_key)
        lan = lan_listener(relay.running.app)
        kept = fingerprint(desk.public_key).upper()  # as a person might type it back
        await lan.set_addresses(["127.0.0.3"])  # the desk moved (its advert now carries the key's fingerprint)
        found = await find(kept, [BROWSE_FROM], timeout=DEADLINE)
        assert found is not None and found.url == f"http://127.0.0.3:{lan.port}"
        assert await find(fingerprint(KeyPair.generate().public_key), [BROWSE_FROM], timeout=0.3) is None


@asynccontextmanager
async def hostile_advert(name: str, fp: str, port: int) -> AsyncIterator[None]:
    """A service whose instance name and fingerprint are hostile text, advertised on 127.0.0.2."""
    zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only, interfaces=[LAN_ADDRESS])
    info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", addresses=[socket.inet_aton(LAN_ADDRESS)],
                            port=port, properties={"v": "1", "path": "/", "fp": fp}, server="hostile-test.local.")
    await (await zeroconf.async_register_service(info))
    try:
        yield
    finally:
        await zeroconf.async_close()  # unregisters (with a goodbye) and closes


@pytest.mark.slow  # one mDNS announcement and two CLI processes
async def test_discover_escapes_names_and_fingerprints_from_the_network() -> None:
    name = HOSTILE["c1_csi"] + HOSTILE["bidi_override"] + HOSTILE["markup_close"]  # zeroconf refuses C0 in names
    fp = HOSTILE["title"] + HOSTILE["erase_line"]
    async with hostile_advert(name, fp, 1):
        code, out, err = await discover("--timeout", str(DEADLINE), "--count", "1")
        assert code == 0, err
        line = next(line for line in out.splitlines() if line.startswith(f"http://{LAN_ADDRESS}:1 "))
        assert not FORBIDDEN.search(line) and "WIPE PROD DB" in line and "cleared" in line
        code, out, _ = await discover("--timeout", str(DEADLINE), "--count", "1", "--json")
        assert code == 0
        assert not FORBIDDEN.search(out)  # JSON escapes control characters
        assert any(r["fingerprint"] == fp for r in json.loads(out))


async def test_discover_with_nothing_advertised_says_so_and_exits_1() -> None:
    code, out, err = await discover("--timeout", "0.3")
    assert (code, out) == (1, "") and "no relay answered within 0.3 s" in err


def _mdns_sockets() -> set[str]:
    """This process's sockets bound to the mDNS port (by inode, from /proc)."""
    bound = {line.split()[9] for line in Path("/proc/net/udp").read_text().splitlines()[1:]
             if line.split()[1].endswith(":14E9")}
    mine = {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.islink(f"/proc/self/fd/{fd}")}
    return {inode for inode in bound if f"socket:[{inode}]" in mine}


@pytest.mark.parametrize("turns", [0, 1, 5])
async def test_a_publish_cancelled_as_zeroconf_starts_leaves_no_socket_open(turns: int) -> None:
    from relay.lan.advert import Advertiser

    before = _mdns_sockets()
    publishing = asyncio.ensure_future(Advertiser(label="cancelled").publish([LAN_ADDRESS], 1, None))
    for _ in range(turns + 1):
        await asyncio.sleep(0)  # the LAN is switched off again at once: zeroconf is still starting
    publishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publishing
    assert _mdns_sockets() == before


@pytest.mark.slow  # two mDNS probes and searches: about 4 s
async def test_a_paired_device_finds_its_desk_again_after_the_desk_moved(tmp_path: Path) -> None:
    from hitl_desk.device_client import DeviceClient, DeviceCredential, approver_client
    from hitl_desk.settings import Settings
    from tests.pairing import install_device, pair_device

    async with live_relay(tmp_path, lan=True, lan_addresses=(LAN_ADDRESS,)) as relay:
        credential, desk = await pair_device(relay, "laptop")
        home = install_device(tmp_path / "laptop-home", credential, desk).home
        lan = lan_listener(relay.running.app)
        old, new = f"http://{LAN_ADDRESS}:{lan.port}", f"http://127.0.0.3:{lan.port}"
        async with approver_client(Settings(home=home), None) as calls, \
                approver_client(Settings(home=home), old) as follows:  # the TUI passes the saved address
            assert isinstance(calls, DeviceClient) and calls.base_url == follows.base_url == old
            await lan.set_addresses(["127.0.0.3"])  # the desk moved; nothing answers at the old address
            assert await find(fingerprint(desk.public_key), [BROWSE_FROM], timeout=DEADLINE) is not None

            assert await calls.list_requests("pending") == []  # found again by the desk key's fingerprint
            assert calls.base_url == new
            assert DeviceCredential.load(Settings(home=home)) == DeviceCredential(**{**vars(credential),
                                                                                     "relay_url": new})
            stream = follows.event_stream()
            following = asyncio.ensure_future(anext(aiter(stream)))
            await asyncio.wait_for(stream.ready.wait(), DEADLINE)  # its stream found the desk too
            assert follows.base_url == new
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
