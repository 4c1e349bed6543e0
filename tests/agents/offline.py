"""Running the real agent CLIs offline: where they are installed, and a clean environment under a
temporary HOME for each, with what keeps it off the network (see test_real_clients' docstring for
what each setting was seen to stop). Shared by every test that drives a real agent CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.agents.standins import Tripwire

HERE = Path(__file__).parent
NODE_BIN = HERE / "node_modules" / ".bin"


def agent_cli(name: str) -> Path:
    """The installed CLI ``name``; skip without node/npm (outside CI), fail when it is not installed."""
    path = NODE_BIN / name
    if path.exists():
        return path
    how = "run: npm ci --prefix tests/agents (scripts/test does)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed in {NODE_BIN}; CI must run the real agent CLIs: {how}")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(f"node/npm are not installed, so the real {name} CLI cannot run here")
    pytest.fail(f"{name} is not installed in {NODE_BIN}: {how}")


def base_env(home: Path, tripwire: Tripwire) -> dict[str, str]:
    """A clean environment with everything under ``home``: nothing of the developer's own set-up leaks in."""
    node = shutil.which("node")
    path = os.pathsep.join([str(NODE_BIN), str(Path(node).parent) if node else "", "/usr/bin", "/bin"])
    return {"PATH": path, "HOME": str(home), "USER": "tester", "LANG": "C.UTF-8", "TERM": "dumb",
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_STATE_HOME": str(home / ".local" / "state"),
            "TMPDIR": str(home / "tmp"), **tripwire.env()}


def claude_env(home: Path, tripwire: Tripwire, model_url: str) -> dict[str, str]:
    """Claude Code's environment: its model API at ``model_url``, nonessential traffic off."""
    return base_env(home, tripwire) | {
        "ANTHROPIC_BASE_URL": model_url, "ANTHROPIC_API_KEY": "sk-ant-standin",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # autoupdater, feedback, error reports, telemetry
        "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1", "CLAUDE_CODE_AUTO_CONNECT_IDE": "false"}


def codex_config(model_url: str) -> str:
    """The top of Codex's config.toml: the stand-in as its model provider, everything that phones out off."""
    return ('model = "gpt-5-codex"\nmodel_provider = "standin"\ncheck_for_update_on_startup = false\n'
            "[model_providers.standin]\n"
            f'name = "stand-in"\nbase_url = "{model_url}/v1"\nwire_api = "responses"\n'
            'env_key = "STANDIN_API_KEY"\n'
            "[analytics]\nenabled = false\n[feedback]\nenabled = false\n"
            "[features]\nplugins = false\n")


def codex_env(home: Path, tripwire: Tripwire) -> dict[str, str]:
    """Codex's environment, with its home in ``home/.codex``."""
    return base_env(home, tripwire) | {"CODEX_HOME": str(home / ".codex"), "STANDIN_API_KEY": "sk-standin"}


def gemini_settings() -> dict[str, Any]:
    """Gemini CLI's settings.json before the MCP servers: API-key auth, telemetry and updates off."""
    return {"security": {"auth": {"selectedType": "gemini-api-key"}},
            "telemetry": {"enabled": False}, "privacy": {"usageStatisticsEnabled": False},
            "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
            "ide": {"enabled": False}}


def gemini_env(home: Path, tripwire: Tripwire, model_url: str) -> dict[str, str]:
    """Gemini CLI's environment: its model API at ``model_url``, the project trusted."""
    return base_env(home, tripwire) | {
        "GEMINI_API_KEY": "standin-key", "GOOGLE_GEMINI_BASE_URL": model_url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true", "NO_BROWSER": "1",
        "GEMINI_CLI_NO_RELAUNCH": "true"}  # one node process, not a second one with a bigger heap
