"""Run the unmodified hitl-cli 1.2.1 client from its own virtualenv (it needs mcp 1.x, we run 2.x).

Call `hitl_cli_venv()` once from a fixture (the first build takes about ten seconds), then drive
the client with `run_hitl_cli` from synchronous code or `arun_hitl_cli` from async tests: a
blocking `subprocess.run` inside the event loop that serves the relay would deadlock it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

__all__ = ["HitlCliInstallError", "arun_hitl_cli", "hitl_cli_venv", "run_hitl_cli"]

INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-hitl-cli"
INSTALL_TIMEOUT = 600.0


class HitlCliInstallError(RuntimeError):
    """scripts/install-hitl-cli could not build the hitl-cli virtualenv."""


@cache
def hitl_cli_venv() -> Path:
    """The hitl-cli virtualenv, built or repaired by scripts/install-hitl-cli when needed."""
    done = subprocess.run(
        [str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise HitlCliInstallError(f"install-hitl-cli exited {done.returncode}:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def _command(
    venv: Path, args: Sequence[str], server_url: str, api_key: str | None, home: Path, env: Mapping[str, str] | None
) -> tuple[list[str], dict[str, str]]:
    """The argv and the clean environment for one hitl-cli run."""
    child_env = {
        "HOME": str(home),
        "PATH": os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "HITL_SERVER_URL": server_url,  # read at import time, so fixed per process
    }
    if api_key is not None:
        child_env["HITL_API_KEY"] = api_key
    child_env.update(env or {})
    return [str(venv / "bin" / "hitl-cli"), *args], child_env


def run_hitl_cli(
    args: Sequence[str],
    *,
    server_url: str,
    api_key: str | None = None,
    home: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `hitl-cli ARGS` with HOME=home, HITL_SERVER_URL set and HITL_API_KEY set or absent."""
    argv, child_env = _command(hitl_cli_venv(), args, server_url, api_key, home, env)
    return subprocess.run(
        argv, env=child_env, cwd=home, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


async def arun_hitl_cli(
    args: Sequence[str],
    *,
    server_url: str,
    api_key: str | None = None,
    home: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`run_hitl_cli` without blocking the event loop; the process is killed on timeout or cancel."""
    venv = await asyncio.to_thread(hitl_cli_venv)
    argv, child_env = _command(venv, args, server_url, api_key, home, env)
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=child_env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
    except TimeoutError as exc:
        raise subprocess.TimeoutExpired(argv, timeout) from exc
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return subprocess.CompletedProcess(argv, process.returncode, stdout.decode(), stderr.decode())
