"""Two hosts on a private wire: the relay in one network namespace, a LAN peer in another.

The test makes both namespaces and a veth pair between them (10.203.0.0/24, a default route on
each side), so every packet, mDNS included, stays on that wire and is gone with the namespaces.
Here nothing is told which address to use: the relay finds its LAN address from the default
route, follows it when it changes, and ``hitl-desk discover`` on the peer browses from the
peer's own LAN address.  Needs root and ``ip netns``; skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.deadline import until
from tests.relay.test_mdns import DEADLINE, Watcher, cli_env

RELAY_ADDRESS, MOVED_ADDRESS, PEER_ADDRESS = "10.203.0.1", "10.203.0.5", "10.203.0.9"
PORT = 8765  # the namespace has ports of its own

PROBE = """
import json, sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        print(json.dumps([response.status, json.load(response)]))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, json.load(error)]))
"""


def ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure fails the test with ip's own words."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr.strip()}"


def netns_usable() -> bool:
    """Whether this process may make network namespaces (root, iproute2, a kernel that allows it)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"hitl-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return True


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not netns_usable(), reason="needs root and ip netns")]


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, str]]:
    """Namespaces ``desk`` and ``peer`` joined by a veth pair, each with its default route on it."""
    desk, peer = f"hitl-desk-{os.getpid()}", f"hitl-peer-{os.getpid()}"
    try:
        for ns in (desk, peer):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", desk, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", peer)
        for ns, address in ((desk, RELAY_ADDRESS), (peer, PEER_ADDRESS)):
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", "lan0")
            ip("-n", ns, "link", "set", "lan0", "up")
            ip("-n", ns, "route", "add", "default", "dev", "lan0")
        # Keep the added address when the first one goes (the kernel would drop the whole subnet).
        ip("netns", "exec", desk, "sysctl", "-q", "-w", "net.ipv4.conf.lan0.promote_secondaries=1")
        yield desk, peer
    finally:
        for ns in (desk, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


async def in_ns(ns: str, *argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """Start ``argv`` inside namespace ``ns``."""
    return await asyncio.create_subprocess_exec("ip", "netns", "exec", ns, *argv, **kwargs)


async def probe(ns: str, url: str) -> tuple[int, Any]:
    """GET ``url`` from namespace ``ns``: status and JSON body."""
    proc = await in_ns(ns, sys.executable, "-c", PROBE, url, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), DEADLINE)
    status, body = json.loads(out)
    return int(status), body


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
</policy></busconfig>
"""
AVAHI_CONFIG = """[server]
use-ipv6=no
allow-interfaces=lan0
[wide-area]
enable-wide-area=no
[publish]
disable-publishing=yes
"""


@asynccontextmanager
async def avahi(ns: str, tmp_path: Path) -> AsyncIterator[dict[str, str] | None]:
    """An avahi-daemon in ``ns`` on a private system bus (the environment for avahi-browse), if installed."""
    if shutil.which("avahi-daemon") is None or shutil.which("avahi-browse") is None:
        yield None
        return
    (tmp_path / "bus.conf").write_text(BUS_CONFIG.format(socket=tmp_path / "bus"))
    (tmp_path / "avahi.conf").write_text(AVAHI_CONFIG)
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'bus'}"}
    quiet: dict[str, Any] = {"stdout": asyncio.subprocess.DEVNULL, "stderr": asyncio.subprocess.DEVNULL}
    bus = await asyncio.create_subprocess_exec("dbus-daemon", "--nofork", f"--config-file={tmp_path / 'bus.conf'}",
                                               **quiet)
    daemon = await in_ns(ns, "avahi-daemon", "--no-drop-root", "--no-chroot", "--no-rlimits", "-f",
                         str(tmp_path / "avahi.conf"), env=env, **quiet)
    try:
        yield env
    finally:
        for proc in (daemon, bus):
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()


async def avahi_sees(ns: str, env: dict[str, str]) -> str | None:
    """The resolved ``_hitl-desk._tcp`` line avahi-browse prints in ``ns``, if any yet."""
    proc = await in_ns(ns, "avahi-browse", "-rtp", "_hitl-desk._tcp", env=env, stdout=asyncio.subprocess.PIPE,
                       stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), DEADLINE)
    return next((line for line in out.decode().splitlines() if line.startswith("=;lan0;IPv4;")), None)


async def test_peer_on_another_host_finds_the_relay_by_mdns_and_follows_its_address(
        two_hosts: tuple[str, str], tmp_path: Path) -> None:
    desk, peer = two_hosts
    env = {**cli_env(), "HITL_HOME": str(tmp_path / "home")}
    watcher = Watcher(await in_ns(peer, sys.executable, "-m", "hitl_desk.cli", "discover", "--watch", "--json",
                                  env=cli_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL))
    relay = await in_ns(desk, sys.executable, "-m", "hitl_desk.cli", "relay", "--lan", "--port", str(PORT),
                        "--lan-poll", "0.2", env=env, stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL)
    try:
        async with avahi(peer, tmp_path) as avahi_env:
            added = await watcher.change(PORT, lambda c: c["change"] == "added")
            assert added["addresses"] == [RELAY_ADDRESS]  # chosen from the default route, not loopback
            if avahi_env is not None:  # an independent mDNS stack agrees
                seen = await until(lambda: avahi_sees(peer, avahi_env), "avahi-browse to resolve the relay")
                assert seen.split(";")[7:9] == [RELAY_ADDRESS, str(PORT)], seen
                assert '"v=1"' in seen and '"path=/"' in seen and "fp=" not in seen

        status, body = await probe(peer, f"http://{RELAY_ADDRESS}:{PORT}/healthz")
        assert status == 200 and "pending" not in body
        status, body = await probe(peer, f"http://{RELAY_ADDRESS}:{PORT}/api/v1/agents")
        assert (status, body["error"]["code"]) == (404, "not_on_lan")

        ip("-n", desk, "addr", "add", f"{MOVED_ADDRESS}/24", "dev", "lan0")
        ip("-n", desk, "addr", "del", f"{RELAY_ADDRESS}/24", "dev", "lan0")
        # The poll may fall between the two commands and serve both for a moment: wait for the end state.
        await watcher.change(PORT, lambda c: c["change"] != "removed" and c["addresses"] == [MOVED_ADDRESS])
        assert (await probe(peer, f"http://{MOVED_ADDRESS}:{PORT}/healthz"))[0] == 200

        relay.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(relay.wait(), DEADLINE) == 0
        gone = await watcher.change(PORT, lambda c: c["change"] == "removed")
        assert gone["addresses"] == [MOVED_ADDRESS]
    finally:
        for proc in (relay, watcher.proc):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


ADVERTISER = """
import asyncio, sys
from relay.lan.advert import Advertiser

async def main():
    advertiser = Advertiser(label="moving")
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        addresses = [a for a in line.split() if a != "-"]
        await advertiser.publish(addresses, int(sys.argv[1]), None)
        print(advertiser.published, ",".join(advertiser.addresses), flush=True)
    await advertiser.withdraw()

asyncio.run(main())
"""


class Desk:
    """``relay.lan.advert.Advertiser`` in the desk's namespace, told where to advertise one line at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def publish(self, *addresses: str) -> tuple[bool, list[str]]:
        """Publish on ``addresses`` (none: withdraw); whether it is announced now, and on which addresses."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((" ".join(addresses) or "-").encode() + b"\n")
        line = (await asyncio.wait_for(self.proc.stdout.readline(), DEADLINE)).decode()
        assert line, "the advertiser exited"
        published, _, on = line.strip().partition(" ")
        return published == "True", on.split(",") if on else []


async def test_a_move_from_an_address_already_gone_leaves_browsers_only_the_new_one(
        two_hosts: tuple[str, str]) -> None:
    """The usual move: the old address is gone before the advert follows, so the old advert's own
    goodbye cannot leave.  Browsers still drop the dead address at once (they would otherwise keep
    it cached beside the new one), also when a publish found none of its addresses left, and when
    one address of a publish went while it started."""
    desk, peer = two_hosts
    port, third = 8766, "10.203.0.7"
    watcher = Watcher(await in_ns(peer, sys.executable, "-m", "hitl_desk.cli", "discover", "--watch", "--json",
                                  env=cli_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL))
    advertiser = Desk(await in_ns(desk, sys.executable, "-c", ADVERTISER, str(port), env=cli_env(),
                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                  stderr=asyncio.subprocess.DEVNULL))

    async def seen_only(address: str) -> None:
        shown = await watcher.change(port, lambda c: c["change"] != "removed" and address in c["addresses"])
        assert shown["addresses"] == [address], watcher.seen

    try:
        assert await advertiser.publish(RELAY_ADDRESS) == (True, [RELAY_ADDRESS])
        await seen_only(RELAY_ADDRESS)

        ip("-n", desk, "addr", "add", f"{MOVED_ADDRESS}/24", "dev", "lan0")
        ip("-n", desk, "addr", "del", f"{RELAY_ADDRESS}/24", "dev", "lan0")
        # Both were seen a moment ago; one went before zeroconf could join the group on it.
        assert await advertiser.publish(RELAY_ADDRESS, MOVED_ADDRESS) == (True, [MOVED_ADDRESS])
        await seen_only(MOVED_ADDRESS)

        ip("-n", desk, "addr", "add", f"{third}/24", "dev", "lan0")
        ip("-n", desk, "addr", "del", f"{MOVED_ADDRESS}/24", "dev", "lan0")
        assert await advertiser.publish(MOVED_ADDRESS, RELAY_ADDRESS) == (False, [])  # nothing left: not announced
        assert await advertiser.publish(third) == (True, [third])
        await seen_only(third)
    finally:
        for proc in (advertiser.proc, watcher.proc):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
