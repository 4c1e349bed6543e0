"""A headless Chromium for the phone tests: ``driver.mjs`` (playwright-core) as a subprocess,
one JSON command per line.  Only loopback pages are opened; the browser's own background
traffic is switched off by its flags (driver.mjs)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
DIST = HERE.parent.parent / "relay" / "web" / "dist" / "app.js"


def require_browser() -> None:
    """Skip (fail in CI) when Chromium, node, playwright-core or the built app is missing."""
    missing = [what for what, ok in (
        ("chromium (apt)", CHROMIUM.exists()), ("node", shutil.which("node") is not None),
        ("playwright-core (npm ci --prefix tests/phone)", (HERE / "node_modules" / "playwright-core").is_dir()),
        ("the built phone app (scripts/build-web)", DIST.is_file())) if not ok]
    if missing:
        message = "phone tests need: " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class Browser:
    """One browser page driven by JSON commands."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def do(self, op: str, **args: Any) -> Any:
        """Run one command; its value, or an AssertionError with the driver's error."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        assert line, "the browser driver exited"
        answer = json.loads(line)
        assert answer["ok"], f"{op} {args}: {answer['error']}"
        return answer["value"]


@asynccontextmanager
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """A fresh headless Chromium with a 390×844 phone viewport and its own profile in ``tmp_path``."""
    require_browser()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    home = tmp_path / "browser-home"  # Chromium writes ~/.pki and ~/.cache too: keep them in tmp_path
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    with (tmp_path / "driver.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            "node", str(HERE / "driver.mjs"), str(profile), cwd=HERE, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=log, env=env,
            start_new_session=True)  # its own process group: Chromium goes with it whatever happens
    try:
        yield Browser(proc)
    finally:
        with suppress(AssertionError, TimeoutError, ConnectionError):
            await asyncio.wait_for(Browser(proc).do("close"), 10)
        # The whole group, also when node exited first: a Chromium it left behind (a test that failed
        # mid-command, a driver that hung) would otherwise run on, busy, long after the test.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
