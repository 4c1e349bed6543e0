"""``hitl-desk hooks install|uninstall|status``: hitl-desk's entries in an agent client's settings.

Each client keeps hooks in a JSON file of the same three-level shape, ``{"hooks": {EVENT:
[{"matcher": …, "hooks": [handler, …]}]}}``: Claude Code's ``settings.json``, Codex's
``hooks.json``, Gemini CLI's ``settings.json``.  Installing adds one matcher group of ours per
event and touches nothing else; a handler is ours when it calls the relay's
``/api/v1/hooks/CLIENT/`` or runs ``hitl-desk hook CLIENT``.  Installing removes our previous
entries first, so a second install changes nothing; the file is backed up before any change.
Codex's ``notify`` program lives in ``config.toml`` (``hitl_desk.codexnotify``).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitl_desk.backup import save_text
from hitl_desk.errors import HookSettingsError

HOOK_TIMEOUT = 900.0
"""Seconds the client is told a hook may take (the relay's cap on a question is 900 s)."""
MARGIN = 30.0
"""Seconds the question expires before the hook's timeout, so the hook answers in time."""
NOTIFY_TIMEOUT = 30
GEMINI_MATCHER = "run_shell_command|write_file|replace"
API_KEY_ENV = "HITL_API_KEY"
FILES = {"claude-code": (".claude", "settings.json"), "codex": (".codex", "hooks.json"),
         "gemini": (".gemini", "settings.json")}


@dataclass
class Options:
    """What to install: where the relay is, how long a question may wait, which form and matchers."""

    url: str
    timeout: float = HOOK_TIMEOUT
    command_form: bool = False
    pre_tool_use: list[str] = field(default_factory=list)
    matcher: str | None = None
    program: str = "hitl-desk"

    @property
    def question_timeout(self) -> float:
        """Seconds the human has: a margin below the hook's own timeout."""
        return max(self.timeout - MARGIN, min(self.timeout / 2, 5.0))


def settings_file(client: str, scope: str, *, home: Path, cwd: Path) -> Path:
    """The client's hook settings file for the scope."""
    folder, name = FILES[client]
    return (home if scope == "user" else cwd) / folder / name


def program_path() -> str:
    """How the client should run this hitl-desk: the script that runs now, else ``hitl-desk`` on PATH."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "hitl-desk" and argv0.exists():
        return str(argv0.resolve())
    return shutil.which("hitl-desk") or "hitl-desk"


def _command(options: Options, client: str, event: str) -> str:
    words = [options.program, "hook", client, event, "--timeout", f"{options.question_timeout:g}", "--url", options.url]
    return shlex.join(words)


def _claude_handler(options: Options, event: str, timeout: float) -> dict[str, Any]:
    if options.command_form:
        return {"type": "command", "command": _command(options, "claude-code", event), "timeout": timeout}
    url = f"{options.url}/api/v1/hooks/claude-code/{event}?timeout={options.question_timeout:g}"
    return {"type": "http", "url": url,
            "timeout": timeout, "headers": {"X-API-Key": f"${API_KEY_ENV}"}, "allowedEnvVars": [API_KEY_ENV]}


def entries(client: str, options: Options) -> dict[str, list[dict[str, Any]]]:
    """Our matcher groups, event by event, for one client."""
    wait: float = int(options.timeout) if options.timeout.is_integer() else options.timeout
    if client == "claude-code":
        groups: dict[str, list[dict[str, Any]]] = {
            "PermissionRequest": [{"matcher": "*", "hooks": [_claude_handler(options, "PermissionRequest", wait)]}],
            "Stop": [{"hooks": [_claude_handler(options, "Stop", wait)]}],
            "Notification": [{"matcher": "*", "hooks": [_claude_handler(options, "Notification", NOTIFY_TIMEOUT)]}],
        }
        if options.pre_tool_use:
            groups["PreToolUse"] = [{"matcher": m, "hooks": [_claude_handler(options, "PreToolUse", wait)]}
                                    for m in options.pre_tool_use]
        return groups
    if client == "codex":
        return {event: [{"matcher": "*", "hooks": [{"type": "command", "command": _command(options, "codex", event),
                                                    "timeout": wait}]}] for event in ("PermissionRequest", "Stop")}
    ms = int(wait * 1000)  # Gemini CLI counts hook timeouts in milliseconds

    def gemini(event: str, timeout_ms: int) -> dict[str, Any]:
        return {"name": f"hitl-desk-{event}", "type": "command", "command": _command(options, "gemini", event),
                "timeout": timeout_ms}
    return {"BeforeTool": [{"matcher": options.matcher or GEMINI_MATCHER, "hooks": [gemini("BeforeTool", ms)]}],
            "AfterAgent": [{"hooks": [gemini("AfterAgent", ms)]}],
            "Notification": [{"hooks": [gemini("Notification", NOTIFY_TIMEOUT * 1000)]}]}


def is_ours(handler: object, client: str) -> bool:
    """Whether a handler is one hitl-desk installed for ``client``."""
    if not isinstance(handler, dict):
        return False
    url, command = handler.get("url"), handler.get("command")
    if isinstance(url, str) and f"/api/v1/hooks/{client}/" in url:
        return True
    return isinstance(command, str) and re.search(rf"hitl-desk\S*'? hook {re.escape(client)} ", command) is not None


def load(path: Path) -> dict[str, Any]:
    """The settings as a JSON object ({} when the file does not exist); anything else is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise HookSettingsError(f"Cannot read {path}: {exc}; it was left unchanged.") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise HookSettingsError(f"{path} is not valid JSON ({exc}); it was left unchanged.") from None
    if not isinstance(data, dict) or not isinstance(data.get("hooks", {}), dict):
        raise HookSettingsError(f"{path} is not a settings object with a hooks object; it was left unchanged.")
    return data


def without_ours(data: dict[str, Any], client: str) -> tuple[dict[str, Any], int]:
    """A copy of the settings with our handlers gone, and how many there were; groups and events
    left empty by the removal go too, everything else stays as it was."""
    copy: dict[str, Any] = json.loads(json.dumps(data))
    hooks = copy.get("hooks")
    removed = 0
    if not isinstance(hooks, dict):
        return copy, 0
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list):
                kept_groups.append(group)
                continue
            kept = [h for h in handlers if not is_ours(h, client)]
            removed += len(handlers) - len(kept)
            if kept or not handlers:
                kept_groups.append({**group, "hooks": kept})
        if kept_groups or not groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    return copy, removed


def ours(data: dict[str, Any], client: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Our installed handlers: (event, matcher, handler)."""
    found = []
    for event, groups in (data.get("hooks") or {}).items():
        for group in groups if isinstance(groups, list) else []:
            for handler in (group.get("hooks") or []) if isinstance(group, dict) else []:
                if is_ours(handler, client):
                    found.append((event, str(group.get("matcher", "")), handler))
    return found


def save(path: Path, data: dict[str, Any]) -> Path | None:
    """Write the settings, backing up the previous file first; the backup's path, if there was a file."""
    return save_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def install(path: Path, client: str, options: Options) -> tuple[bool, Path | None]:
    """Merge our entries into the file; whether it changed, and its backup."""
    data = load(path)
    merged, _ = without_ours(data, client)
    hooks = merged.setdefault("hooks", {})
    for event, groups in entries(client, options).items():
        existing = hooks.get(event)
        hooks[event] = (existing if isinstance(existing, list) else []) + groups
    if merged == data:
        return False, None
    return True, save(path, merged)


def uninstall(path: Path, client: str) -> tuple[int, Path | None]:
    """Remove our entries; how many handlers went, and the backup."""
    if not path.exists():
        return 0, None
    data = load(path)
    cleaned, removed = without_ours(data, client)
    if cleaned.get("hooks") == {}:
        del cleaned["hooks"]
    return (removed, save(path, cleaned)) if removed else (0, None)


# -- commands ---------------------------------------------------------------------------------

def _paths(args: argparse.Namespace, client: str) -> Path:
    return settings_file(client, args.scope, home=Path.home(), cwd=Path.cwd())


def _options(args: argparse.Namespace) -> Options:
    from hitl_desk.settings import Settings, server_url

    url = server_url(args.url) if getattr(args, "url", None) else Settings.from_env().server_url
    timeout = args.timeout if args.timeout is not None else HOOK_TIMEOUT
    if not 10 <= timeout <= 3600:
        raise HookSettingsError("--timeout must be between 10 and 3600 seconds.")
    return Options(url=url.rstrip("/"), timeout=timeout, command_form=args.command_form,
                   pre_tool_use=list(args.pre_tool_use), matcher=args.matcher, program=program_path())


def cmd_install(args: argparse.Namespace) -> int:
    """``hooks install CLIENT``."""
    from hitl_desk import codexnotify

    options = _options(args)
    path = _paths(args, args.client)
    changed, backup = install(path, args.client, options)
    print(f"{'Installed' if changed else 'Already installed:'} hitl-desk hooks in {path}"
          + (f" (backup: {backup})" if backup else ""))
    if args.client == "codex":
        codexnotify.install(path.with_name("config.toml"), _command(options, "codex", "notify"))
        print("Codex asks you to trust new hooks once: open /hooks in Codex.", file=sys.stderr)
    if args.client == "claude-code" and not options.command_form:
        print(f"Claude Code sends ${API_KEY_ENV} to the relay: start it with {API_KEY_ENV} set to an agent key "
              "(hitl-desk keys create --agent claude-code).", file=sys.stderr)
    else:
        print(f"The hook command reads {API_KEY_ENV}: set it to an agent key where the client runs.", file=sys.stderr)
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    """``hooks uninstall CLIENT``."""
    from hitl_desk import codexnotify

    path = _paths(args, args.client)
    removed, backup = uninstall(path, args.client)
    print(f"Removed {removed} hitl-desk hook{'s' if removed != 1 else ''} from {path}"
          + (f" (backup: {backup})" if backup else ""))
    if args.client == "codex" and codexnotify.uninstall(path.with_name("config.toml")):
        print(f"Removed hitl-desk's notify program from {path.with_name('config.toml')}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``hooks status [CLIENT]``: one line per installed hook."""
    from hitl_desk import codexnotify
    from hitl_desk.display import visible_line

    for client in FILES if args.client == "all" else (args.client,):
        path = _paths(args, client)
        try:
            found = ours(load(path), client)
        except HookSettingsError as exc:
            print(f"{client}: {exc.message}")
            continue
        print(f"{client}: {len(found)} hitl-desk hook{'s' if len(found) != 1 else ''} in {path}")
        for event, matcher, handler in found:
            where = handler.get("url") or handler.get("command")
            shown = f" [{visible_line(matcher)}]" if matcher else ""
            print(f"  {event}{shown}  {handler.get('type')}  {visible_line(str(where))}")
        if client == "codex" and codexnotify.installed(path.with_name("config.toml")):
            print(f"  notify  command  in {path.with_name('config.toml')}")
    return 0
