"""Running ``hitl-desk`` as a real process for start-up tests: spawn, time, collect stderr."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitl_desk.client import RelayClient

START_DEADLINE = 10.0
"""A failing start must have exited well within this."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(home: Path, port: int | None = None) -> dict[str, str]:
    """The environment of a hitl-desk process using ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env["HITL_HOME"] = str(home)
    if port is not None:
        env["HITL_SERVER_URL"] = f"http://127.0.0.1:{port}"
    return env


@dataclass
class Finished:
    """How a process that was expected to fail ended."""

    code: int
    seconds: float
    stderr: str

    @property
    def lines(self) -> list[str]:
        """The non-empty lines it wrote to stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_failing(*args: str, home: Path, port: int | None = None, **kwargs: Any) -> Finished:
    """Run ``hitl-desk ARGS`` and return how it ended (killed after ``START_DEADLINE``)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hitl_desk.cli", *args], env=env_for(home, port),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=START_DEADLINE, **kwargs)
    return Finished(proc.returncode, time.monotonic() - started, proc.stderr)


async def spawn_relay(home: Path, port: int, *options: str, keep_stderr: bool = True) -> asyncio.subprocess.Process:
    """Start ``hitl-desk relay OPTIONS`` and return once it answers ``/healthz``.

    With ``keep_stderr`` its stderr is a pipe for ``stop_relay`` to read; a relay that is killed
    instead, or that serves long enough to fill a pipe, is started with ``keep_stderr=False``.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "relay", "--port", str(port), *options, env=env_for(home),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE if keep_stderr else asyncio.subprocess.DEVNULL)
    async with asyncio.timeout(20):
        while True:
            try:
                async with RelayClient(f"http://127.0.0.1:{port}") as probe:
                    await probe.health()
                return proc
            except Exception:
                if proc.returncode is not None:
                    said = (await proc.stderr.read()).decode() if proc.stderr is not None else ""
                    raise AssertionError(f"relay exited at start: {said}") from None
                await asyncio.sleep(0.05)  # polling for the port to open, under the deadline above


async def stop_relay(proc: asyncio.subprocess.Process) -> str:
    """Stop a relay with SIGINT and return what it wrote to stderr."""
    proc.send_signal(2)
    assert proc.stderr is not None
    err = await asyncio.wait_for(proc.stderr.read(), 10)
    await asyncio.wait_for(proc.wait(), 10)
    return err.decode()


async def run_cli(*args: str, home: Path, url: str) -> tuple[int, str, str]:
    """Run ``hitl-desk ARGS`` against ``url`` without blocking the loop; (code, stdout, stderr)."""
    env = env_for(home)
    env["HITL_SERVER_URL"] = url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
