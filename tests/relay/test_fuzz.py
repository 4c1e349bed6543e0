"""Schemathesis fuzzes every documented route of the live relay: no input may produce a 5xx."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from tests.conftest import start_relay

MAX_EXAMPLES = "20"


async def test_fuzzing_the_openapi_document_finds_no_server_error(tmp_path: Path) -> None:
    # A short cap keeps blocking routes (wait=true) from holding the fuzzer for 15 minutes.
    relay = await start_relay(tmp_path / "home", max_timeout=0.5)
    token = (tmp_path / "home" / "owner.token").read_text()
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    try:
        proc = await asyncio.create_subprocess_exec(
            st, "run", f"{relay.url}/api/v1/openapi.json",
            "--checks", "not_a_server_error", "--max-examples", MAX_EXAMPLES,
            "--generation-deterministic", "--request-timeout", "20", "--workers", "2",
            "-H", f"Authorization: Bearer {token}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
    finally:
        await relay.stop()
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    summary = [line for line in report.splitlines() if "generated" in line]
    assert summary and "passed" in summary[-1] and "fail" not in summary[-1], report[-3000:]
