"""What a new user hits on the command line: one clear line and an exit code, never a traceback."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from tests.conftest import LiveRelay


async def hitl_desk(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    """Run the real CLI in a subprocess; its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def env_for(home: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment with only our own HITL_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(home), **extra)
    if url is not None:
        env["HITL_SERVER_URL"] = url
    return env


async def test_url_without_a_scheme_is_taken_as_http(relay: LiveRelay) -> None:
    host_port = relay.url.removeprefix("http://")
    code, _, err = await hitl_desk("--url", host_port, "pending", env=env_for(relay.home))
    assert code == 0, err
    code, _, err = await hitl_desk("pending", env=env_for(relay.home, host_port))
    assert code == 0, err
    code, _, err = await hitl_desk("pending", "--url", host_port, env=env_for(relay.home))
    assert code == 0, err


async def test_url_that_is_not_http_is_refused_in_one_line(tmp_path: Path) -> None:
    code, _, err = await hitl_desk("--url", "ftp://127.0.0.1:1", "pending", env=env_for(tmp_path))
    assert code == 2 and "Traceback" not in err and "http://HOST:PORT" in err
    code, _, err = await hitl_desk("pending", env=env_for(tmp_path, "http://:not-a-port"))
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "hitl-desk: HITL_SERVER_URL='http://:not-a-port' is not a relay address; "
        "use http://HOST:PORT, e.g. http://127.0.0.1:8765"]


async def test_relay_on_a_taken_port_says_so_and_exits_nonzero(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await hitl_desk("relay", "--port", str(port), env=env_for(tmp_path / "home"), timeout=30)
    assert code != 0 and "Traceback" not in err
    problem = [line for line in err.splitlines() if line.startswith("hitl-desk:")]
    assert len(problem) == 1 and f"port {port}" in problem[0] and "--port" in problem[0]


async def test_watch_piped_into_head_exits_quietly(relay: LiveRelay, tmp_path: Path) -> None:
    async with relay.owner() as owner:
        for n in range(3):
            await owner.notify(f"backlog {n}")
        err_path, rc_path = tmp_path / "watch.err", tmp_path / "watch.rc"
        script = (f'"{sys.executable}" -m hitl_desk.cli watch --since 0 --json 2>"{err_path}"; '
                  f'echo $? >"{rc_path}"')
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", f"({script}) | head -2", env=env_for(relay.home, relay.url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            lines = [await proc.stdout.readline(), await proc.stdout.readline()]
            # head leaves after two lines: the next event watch writes meets the closed pipe.
            while not rc_path.exists() or not rc_path.read_text().strip():
                await owner.notify("after head left")
                await asyncio.sleep(0.05)  # polling for watch to notice, under the deadline
            assert await proc.stdout.read() == b""  # head printed no more than two lines
            await proc.wait()
        assert all(b'"seq"' in line for line in lines)
    assert (rc_path.read_text().strip(), err_path.read_text()) == ("0", "")
