"""The command lines of ``hitl-desk hook`` (a client's command hook) and ``hitl-desk hooks``
(install, uninstall, status); the work is done in ``hitl_desk.hookinstall`` and ``hitl_desk.hook_cmd``,
imported only when one runs."""

from __future__ import annotations

import argparse
from typing import Any

CLIENT_CHOICES = ("claude-code", "codex", "gemini")


def _run(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from hitl_desk import hookinstall

        result: int = getattr(hookinstall, name)(args)
        return result
    return run


def _hook(args: argparse.Namespace) -> int:
    from hitl_desk.hook_cmd import main

    given = list(args.hook_args)
    if getattr(args, "url", None) and "--url" not in given:  # hitl-desk --url URL hook …
        given += ["--url", args.url]
    return main(given)


def add_parsers(sub: Any) -> None:
    """Add ``hook`` and ``hooks`` to the ``hitl-desk`` subcommands."""
    p = sub.add_parser("hook", help="run as an agent client's command hook (hook JSON on stdin, its answer on "
                                    "stdout); hitl-desk hooks install writes the command for you")
    p.add_argument("hook_args", nargs=argparse.REMAINDER, metavar="CLIENT EVENT [--timeout S] [--url URL]",
                   help="the client (claude-code, codex, gemini) and its hook event; the hook JSON comes on stdin")
    p.set_defaults(func=_hook)

    p = sub.add_parser("hooks", help="install, remove or show hitl-desk's hooks in Claude Code, Codex or Gemini CLI")
    hs = p.add_subparsers(dest="hooks_command", required=True, metavar="HOOKS_COMMAND")
    for name, what in (("install", "merge hitl-desk's hooks into the client's settings (backed up first)"),
                       ("uninstall", "remove hitl-desk's hooks, and only those"),
                       ("status", "show which hitl-desk hooks are installed")):
        h = hs.add_parser(name, help=what)
        h.add_argument("client", choices=CLIENT_CHOICES if name != "status" else (*CLIENT_CHOICES, "all"),
                       nargs=None if name != "status" else "?", default="all",
                       help="the agent client" + ("" if name != "status" else " (default: all)"))
        h.add_argument("--scope", choices=("user", "project"), default="user",
                       help="user: ~/.claude, ~/.codex, ~/.gemini; project: the same under the current directory")
        if name == "install":
            h.add_argument("--url", default=argparse.SUPPRESS,
                           help="the relay the hooks call (default: --url / HITL_SERVER_URL / http://127.0.0.1:8765)")
            h.add_argument("--command", action="store_true", dest="command_form",
                           help="Claude Code: command hooks (hitl-desk hook ...) instead of HTTP hooks "
                                "(Claude Code before 2.1.63)")
            h.add_argument("--pre-tool-use", action="append", default=[], metavar="MATCHER",
                           help="Claude Code: also ask before these tools run (PreToolUse matcher, e.g. "
                                "'Bash|Edit'); repeat for more")
            h.add_argument("--matcher", help="Gemini CLI: the tools BeforeTool asks about (default: "
                                             "run_shell_command|write_file|replace)")
            h.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                           help="the hook timeout the client is told (default 900); the human has 30 s less")
        h.set_defaults(func=_run(f"cmd_{name}"))
