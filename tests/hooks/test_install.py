"""``hitl-desk hooks install|uninstall|status`` against settings files in a tmp HOME and project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

HITL_DESK = str(Path(sys.executable).with_name("hitl-desk"))
URL = "http://127.0.0.1:8765"

THEIRS = {
    "permissions": {"allow": ["Bash(npm test:*)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
    },
}


def hooks(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HOME=str(tmp_path / "home"), HITL_HOME=str(tmp_path / "hitl"), HITL_SERVER_URL=URL)
    (tmp_path / "project").mkdir(exist_ok=True)
    return subprocess.run([HITL_DESK, "hooks", *args], env=env, cwd=tmp_path / "project", capture_output=True,
                          text=True, timeout=60)


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.hitl-desk-backup-*"))


def test_claude_code_gets_http_hooks_with_the_key_from_the_environment(tmp_path: Path) -> None:
    done = hooks(tmp_path, "install", "claude-code")
    assert done.returncode == 0, done.stderr
    settings = read(tmp_path / "home/.claude/settings.json")
    handler = {"type": "http", "url": f"{URL}/api/v1/hooks/claude-code/PermissionRequest?timeout=870",
               "timeout": 900, "headers": {"X-API-Key": "$HITL_API_KEY"}, "allowedEnvVars": ["HITL_API_KEY"]}
    assert settings["hooks"]["PermissionRequest"] == [{"matcher": "*", "hooks": [handler]}]
    assert settings["hooks"]["Stop"][0]["hooks"][0]["url"] == f"{URL}/api/v1/hooks/claude-code/Stop?timeout=870"
    assert settings["hooks"]["Notification"][0]["hooks"][0]["timeout"] == 30
    assert "PreToolUse" not in settings["hooks"]


def test_install_keeps_other_hooks_backs_up_and_installing_twice_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "home/.claude/settings.json"
    write(path, THEIRS)
    original = path.read_text()
    assert hooks(tmp_path, "install", "claude-code", "--pre-tool-use", "Bash|Edit").returncode == 0
    settings = read(path)
    assert settings["permissions"] == THEIRS["permissions"]
    assert settings["hooks"]["PreToolUse"][0] == THEIRS["hooks"]["PreToolUse"][0]
    assert settings["hooks"]["PreToolUse"][1]["matcher"] == "Bash|Edit"
    assert settings["hooks"]["Stop"][0] == THEIRS["hooks"]["Stop"][0]
    [backup] = backups(path)
    assert backup.read_text() == original
    installed = path.read_text()
    again = hooks(tmp_path, "install", "claude-code", "--pre-tool-use", "Bash|Edit")
    assert again.returncode == 0 and "Already installed" in again.stdout
    assert path.read_text() == installed and len(backups(path)) == 1


def test_uninstall_removes_only_ours(tmp_path: Path) -> None:
    path = tmp_path / "home/.claude/settings.json"
    write(path, THEIRS)
    hooks(tmp_path, "install", "claude-code", "--pre-tool-use", "Bash")
    done = hooks(tmp_path, "uninstall", "claude-code")
    assert done.returncode == 0 and "Removed 4 hitl-desk hooks" in done.stdout
    assert read(path) == THEIRS
    assert "Removed 0" in hooks(tmp_path, "uninstall", "claude-code").stdout


def test_status_lists_what_is_installed(tmp_path: Path) -> None:
    hooks(tmp_path, "install", "claude-code", "--scope", "project", "--command")
    out = hooks(tmp_path, "status", "--scope", "project").stdout
    assert f"claude-code: 3 hitl-desk hooks in {tmp_path / 'project/.claude/settings.json'}" in out
    assert "  Stop  command  " in out and "hook claude-code Stop --timeout 870 --url" in out
    assert "codex: 0 hitl-desk hooks" in out and "gemini: 0 hitl-desk hooks" in out
    assert not (tmp_path / "home/.claude").exists()


def test_the_command_form_runs_this_hitl_desk(tmp_path: Path) -> None:
    hooks(tmp_path, "install", "claude-code", "--command", "--timeout", "120")
    handler = read(tmp_path / "home/.claude/settings.json")["hooks"]["PermissionRequest"][0]["hooks"][0]
    assert handler == {"type": "command", "timeout": 120,
                       "command": f"{HITL_DESK} hook claude-code PermissionRequest --timeout 90 --url {URL}"}


def test_codex_gets_command_hooks_and_its_notify_program(tmp_path: Path) -> None:
    config = tmp_path / "home/.codex/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('model = "gpt-5-codex"\n\n[mcp_servers.other]\nurl = "http://127.0.0.1:1/mcp"\n')
    assert hooks(tmp_path, "install", "codex").returncode == 0
    settings = read(tmp_path / "home/.codex/hooks.json")
    assert sorted(settings["hooks"]) == ["PermissionRequest", "Stop"]
    assert settings["hooks"]["Stop"][0]["hooks"][0]["command"].endswith("hook codex Stop --timeout 870 --url " + URL)
    parsed = tomllib.loads(config.read_text())
    assert parsed["notify"] == [HITL_DESK, "hook", "codex", "notify", "--timeout", "870", "--url", URL]
    assert parsed["mcp_servers"]["other"]["url"] == "http://127.0.0.1:1/mcp" and parsed["model"] == "gpt-5-codex"
    installed = config.read_text()
    assert hooks(tmp_path, "install", "codex").returncode == 0
    assert config.read_text() == installed
    assert "notify  command" in hooks(tmp_path, "status", "codex").stdout
    assert hooks(tmp_path, "uninstall", "codex").returncode == 0
    assert config.read_text() == 'model = "gpt-5-codex"\n\n[mcp_servers.other]\nurl = "http://127.0.0.1:1/mcp"\n'
    assert read(tmp_path / "home/.codex/hooks.json") == {}


def test_a_notify_program_the_user_set_is_never_replaced(tmp_path: Path) -> None:
    config = tmp_path / "home/.codex/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('notify = ["my-notifier"]\n')
    done = hooks(tmp_path, "install", "codex")
    assert done.returncode == 0 and "already runs a notify program" in done.stderr
    assert config.read_text() == 'notify = ["my-notifier"]\n'


def test_gemini_timeouts_are_in_milliseconds(tmp_path: Path) -> None:
    assert hooks(tmp_path, "install", "gemini", "--scope", "project").returncode == 0
    settings = read(tmp_path / "project/.gemini/settings.json")
    before = settings["hooks"]["BeforeTool"][0]
    assert before["matcher"] == "run_shell_command|write_file|replace"
    assert before["hooks"][0]["timeout"] == 900_000
    assert settings["hooks"]["AfterAgent"][0]["hooks"][0]["command"].endswith(f"--timeout 870 --url {URL}")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"hooks": []}'])
def test_a_settings_file_that_is_not_a_settings_object_is_left_unchanged(tmp_path: Path, text: str) -> None:
    path = tmp_path / "home/.claude/settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    done = hooks(tmp_path, "install", "claude-code")
    assert done.returncode == 1 and "left unchanged" in done.stderr
    assert path.read_text() == text and backups(path) == []


def test_a_settings_file_behind_a_symlink_is_rewritten_where_it_lives(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    write(dotfiles, THEIRS)
    link = tmp_path / "home/.claude/settings.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(dotfiles)
    assert hooks(tmp_path, "install", "claude-code").returncode == 0
    assert link.is_symlink() and "PermissionRequest" in read(dotfiles)["hooks"]
    assert len(backups(dotfiles)) == 1
