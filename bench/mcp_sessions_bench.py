"""What 3,000 abandoned MCP sessions cost the relay; prints a table.

One agent key opens 3,000 legacy sessions (``initialize`` then ``notifications/initialized`` over
raw HTTP, the way a client that starts a session per call and never sends DELETE does) and walks
away.  The relay runs as a
process of its own; the table gives its resident memory (VmRSS) before and after, and how many
of the sessions still answer.  Two relays in the same run: one with the per-key cap lifted
(``--mcp-sessions-per-key 100000``, what the relay did before the cap), and one with the default
cap (32 per key, the longest-idle ended to make room).

Usage: python bench/mcp_sessions_bench.py [--sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path

import aiohttp

SSE_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def rss_mb(pid: int) -> float:
    """The process's resident memory now, in MB."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert match
    return int(match.group(1)) / 1024


async def start_relay(home: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """``hitl-desk relay`` on a free loopback port; returns the process and its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(home), HITL_SERVER_URL="http://127.0.0.1:0")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "relay", "--port", "0", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, line.rsplit(" ", 1)[1].strip()


async def api_key(http: aiohttp.ClientSession, url: str, home: Path) -> str:
    """Mint a key with the owner credential the relay wrote."""
    token = (home / "owner.token").read_text().strip()
    async with http.post(f"{url}/api/v1/api-keys", json={"agent_name": "forgetful"},
                         headers={"Authorization": f"Bearer {token}"}) as resp:
        return str((await resp.json())["api_key"])


async def open_sessions(http: aiohttp.ClientSession, url: str, key: str, count: int) -> list[str]:
    """Open ``count`` sessions, 50 at a time, and forget them."""
    ids: list[str] = []
    headers = {**SSE_ACCEPT, "X-API-Key": key}

    async def one() -> None:
        async with http.post(f"{url}/mcp", json=INIT, headers=headers) as resp:
            await resp.read()
            session_id = resp.headers["mcp-session-id"]
        async with http.post(f"{url}/mcp", json=INITIALIZED, headers={
                **headers, "mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}) as resp:
            await resp.read()
        ids.append(session_id)

    for start in range(0, count, 50):
        await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return ids


async def alive(http: aiohttp.ClientSession, url: str, key: str, ids: list[str]) -> int:
    """How many of the sessions still answer (a notification: 202 alive, 404 ended)."""
    headers = {**SSE_ACCEPT, "X-API-Key": key, "mcp-protocol-version": "2025-06-18"}
    count = 0
    for session_id in ids:
        async with http.post(f"{url}/mcp", json=INITIALIZED, headers={**headers, "mcp-session-id": session_id}) as r:
            await r.read()
            count += r.status == 202
    return count


async def measure(label: str, sessions: int, *args: str) -> tuple[str, float, float, int]:
    """RSS before and after ``sessions`` abandoned sessions, and how many are still alive."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        proc, url = await start_relay(home, *args)
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
                key = await api_key(http, url, home)
                await open_sessions(http, url, key, 20)  # warm up: imports, caches, first session
                before = rss_mb(proc.pid)
                ids = await open_sessions(http, url, key, sessions)
                after = rss_mb(proc.pid)
                live = await alive(http, url, key, ids)
                return label, before, after, live
        finally:
            proc.terminate()
            await proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=3000)
    args = parser.parse_args()
    rows = [await measure("no per-key cap (as before)", args.sessions, "--mcp-sessions-per-key", "100000"),
            await measure("default cap (32 per key)", args.sessions)]
    print(f"{args.sessions} abandoned MCP sessions from one key; relay RSS in MB")
    print(f"{'relay':<28} {'before':>8} {'after':>8} {'growth':>8} {'alive':>7}")
    for label, before, after, live in rows:
        print(f"{label:<28} {before:8.1f} {after:8.1f} {after - before:+8.1f} {live:7d}")


if __name__ == "__main__":
    asyncio.run(main())
