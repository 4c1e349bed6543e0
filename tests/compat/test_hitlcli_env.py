"""The unmodified hitl-cli 1.2.1 runs from its own virtualenv with the pinned mcp 1.x stack."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.compat.hitlcli import arun_hitl_cli, hitl_cli_venv, run_hitl_cli

PINNED = {
    "hitl-cli": "1.2.1",
    "fastmcp": "2.10.6",
    "mcp": "1.12.2",
    "pydantic": "2.11.7",
    "pydantic-core": "2.33.2",
    "pydantic-settings": "2.10.1",
}
# Nothing listens on the discard port; --help never connects anyway.
NOWHERE = "http://127.0.0.1:9"


@pytest.mark.timeout(660)  # the first build downloads the client and its pins from PyPI
def test_hitl_cli_venv_holds_the_pinned_client_and_answers_help(tmp_path: Path) -> None:
    venv = hitl_cli_venv()
    probe = (
        "import json, sys, fastmcp; from importlib.metadata import version; "
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))"
    )
    versions = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe, *PINNED], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(versions.stdout) == PINNED

    overview = run_hitl_cli(["--help"], server_url=NOWHERE, home=tmp_path, timeout=60)
    assert overview.returncode == 0, overview.stderr
    for command in ("login", "request", "notify", "notify-completion", "proxy", "agents", "admin"):
        assert f" {command} " in overview.stdout

    request = run_hitl_cli(["request", "--help"], server_url=NOWHERE, api_key="k", home=tmp_path, timeout=60)
    assert request.returncode == 0, request.stderr
    assert "--prompt" in request.stdout


async def test_hitl_cli_runs_from_async_tests_without_blocking_the_loop(tmp_path: Path) -> None:
    done = await arun_hitl_cli(["notify", "--help"], server_url=NOWHERE, home=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--message" in done.stdout
