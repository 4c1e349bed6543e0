"""The relay keeps serving under hostile connection load: idle floods, slowloris, busy floods."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from hitl_desk.client import RelayClient
from relay.context import RelayConfig
from relay.limits import FD_RESERVE, GATE
from tests.conftest import LiveRelay, start_relay
from tests.deadline import until

FD_LIMIT = 1024
IDLE_SOCKETS = 1100


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1 << 16, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@asynccontextmanager
async def relay_process(home: Path, log: Path, *args: str, hard_limit: int = FD_LIMIT
                        ) -> AsyncIterator[tuple[str, int]]:
    """``hitl-desk relay`` as a subprocess at ``ulimit -n 1024``, its log in ``log``; yields (url, pid)."""
    prlimit = shutil.which("prlimit")
    assert prlimit, "prlimit (util-linux) is needed to run the relay under a low open-file limit"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(home), HITL_SERVER_URL="http://127.0.0.1:0")
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            prlimit, f"--nofile={FD_LIMIT}:{hard_limit}", sys.executable, "-m", "hitl_desk.cli", "relay",
            "--port", "0", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "listening on" in line, line + log.read_text()
        yield line.rsplit(" ", 1)[1].strip(), proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


@pytest.mark.slow
async def test_relay_raises_its_open_file_soft_limit_to_the_hard_limit_and_says_so(tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    async with relay_process(tmp_path / "home", log, hard_limit=4096) as (_, pid):
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert any(line.startswith("Max open files") and line.split()[3:5] == ["4096", "4096"]
                   for line in limits.splitlines()), limits
    assert log.read_text().count("open-file limit raised from 1024 to 4096") == 1


@pytest.mark.slow
async def test_1100_idle_sockets_at_ulimit_1024_neither_stop_serving_nor_flood_the_log(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "relay.log"
    async with relay_process(home, log) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_SOCKETS)]
        try:
            # The relay has taken in the whole flood once most of the flood has been closed again.
            await until(lambda: sum(_closed_by_peer(s) for s in idle) >= IDLE_SOCKETS - FD_LIMIT + 200, timeout=30)
            token = (home / "owner.token").read_text().strip()
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/healthz") as resp:
                    assert resp.status == 200
                async with http.get(f"{url}/api/v1/agents", headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == 200
            assert len(os.listdir(f"/proc/{pid}/fd")) < FD_LIMIT
        finally:
            for sock in idle:
                sock.close()
    text = log.read_text()
    assert "Too many open files" not in text
    assert log.stat().st_size < 4096, text[-2000:]
    assert "open-file limit is 1024" in text


@pytest.mark.slow
async def test_failed_accepts_past_the_fd_limit_log_one_line_and_the_relay_recovers(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "relay.log"
    # A cap above the descriptor limit (a misconfiguration) lets the flood exhaust descriptors.
    async with relay_process(home, log, "--max-connections", "5000", "--header-timeout", "1") as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_SOCKETS)]
        try:
            await until(lambda: "accepting a connection failed" in log.read_text(), timeout=30)
            await until(lambda: sum(_closed_by_peer(s) for s in idle) >= FD_LIMIT - FD_RESERVE, timeout=30)
        finally:
            for sock in idle:
                sock.close()
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(30):
                while True:  # served again once the header timeout has closed the flood
                    try:
                        async with http.get(f"{url}/healthz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
    text = log.read_text()
    assert text.count("accepting a connection failed") <= 2, text[-2000:]
    assert log.stat().st_size < 8192, text[-2000:]


async def test_slowloris_sending_half_a_header_is_dropped_within_the_header_timeout(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", header_timeout=0.5)
    try:
        _, port = running.url.rsplit(":", 1)
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        started = asyncio.get_running_loop().time()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        async with asyncio.timeout(5):
            while (await reader.read(1024)) != b"":  # dribbling more header bytes does not reset the clock
                pass
        assert asyncio.get_running_loop().time() - started < 2
        writer.close()
    finally:
        await running.stop()


async def test_slowloris_dribbling_a_header_byte_at_a_time_is_dropped(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", header_timeout=0.5)
    try:
        _, port = running.url.rsplit(":", 1)
        sock = socket.create_connection(("127.0.0.1", int(port)))
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5):
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000:
                try:
                    sock.send(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                if _closed_by_peer(sock):
                    break
                await asyncio.sleep(0.05)
        assert asyncio.get_running_loop().time() - started < 2
        sock.close()
    finally:
        await running.stop()


async def test_connection_idle_after_a_request_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", idle_timeout=0.5)
    try:
        _, port = running.url.rsplit(":", 1)
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        async with asyncio.timeout(5):
            while await reader.read(1024):
                pass
        writer.close()
    finally:
        await running.stop()


def test_default_timeouts_are_a_few_seconds() -> None:
    config = RelayConfig(home=Path("."))
    assert config.header_timeout <= 10 and config.idle_timeout <= 60


async def _long_poll(port: int, request_id: str, credential: str) -> asyncio.StreamWriter:
    """A connection kept busy by a status long-poll."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/v1/hitl/requests/{request_id}?wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: Bearer {credential}\r\n\r\n".encode())
    await writer.drain()
    return writer


async def _get(port: int, path: str, credential: str) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {credential}\r\n"
                     "Connection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body.startswith((b"{", b"[")) else {}


@pytest.fixture
async def small_relay(tmp_path: Path) -> AsyncIterator[LiveRelay]:
    """A relay that serves at most 16 connections (the last 4 for the owner)."""
    live = LiveRelay(await start_relay(tmp_path / "home", max_connections=16, header_timeout=60),
                     tmp_path / "home")
    try:
        yield live
    finally:
        await live.running.stop()


async def test_past_the_cap_the_longest_idle_connection_makes_room_for_a_new_one(small_relay: LiveRelay) -> None:
    port = small_relay.running.port
    gate = small_relay.running.app[GATE]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(gate.soft_limit)]
    try:
        await until(lambda: gate.open_connections == gate.soft_limit)
        statuses: list[int] = []
        async with asyncio.timeout(10):  # a connection must be idle a moment before it is displaced
            while not statuses or statuses[-1] != 200:
                statuses.append((await _get(port, "/healthz", "-"))[0])
        assert set(statuses) <= {503, 200}
        assert _closed_by_peer(idle[0]) and not _closed_by_peer(idle[-1])
        assert gate.open_connections <= gate.soft_limit
    finally:
        for sock in idle:
            sock.close()


async def test_when_every_connection_is_busy_only_the_owner_gets_in_then_all_are_refused(
        small_relay: LiveRelay) -> None:
    port = small_relay.running.port
    gate = small_relay.running.app[GATE]
    async with small_relay.owner() as owner:
        key = (await owner.create_api_key("busy-agent")).api_key
    async with RelayClient(small_relay.url, key) as agent:
        pending = await agent.create_request("Hold on")
    busy = [await _long_poll(port, pending.id, key) for _ in range(gate.soft_limit)]
    try:
        await until(lambda: (gate.open_connections, gate.idle_connections) == (gate.soft_limit, 0))
        status, body = await _get(port, "/api/v1/agents", key)
        assert (status, body["error"]["code"]) == (503, "too_many_connections")  # type: ignore[index]
        status, _ = await _get(port, "/api/v1/agents", small_relay.owner_token)
        assert status == 200
        busy += [await _long_poll(port, pending.id, small_relay.owner_token)
                 for _ in range(gate.limit - gate.soft_limit)]
        await until(lambda: (gate.open_connections, gate.idle_connections) == (gate.limit, 0))
        status, body = await _get(port, "/api/v1/agents", small_relay.owner_token)
        assert (status, body["error"]["code"]) == (503, "too_many_connections")  # type: ignore[index]
    finally:
        for writer in busy:
            writer.close()

