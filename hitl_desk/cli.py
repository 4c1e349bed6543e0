"""``hitl-desk``: ask, notify, approve and administer from the shell.

Data goes to stdout, messages to stderr.  Exit codes:
0 success · 1 error · 2 usage · 3 expired or timed out · 4 cancelled · 5 relay unavailable ·
6 authentication failed.

Commands that live in other packages (``relay``, ``tui``, ``tray``) plug in through the
``hitl_desk.commands`` entry-point group, so this core never imports them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hitl_desk.errors import (
    AuthenticationError,
    HitlError,
    RelayUnavailableError,
    RequestCancelledError,
    RequestExpiredError,
)

EXIT_ERROR, EXIT_USAGE, EXIT_EXPIRED, EXIT_CANCELLED, EXIT_UNAVAILABLE, EXIT_AUTH = 1, 2, 3, 4, 5, 6
PLUGIN_GROUP = "hitl_desk.commands"
DEFAULT_COMMAND = "tui"
BUILTIN = {"request", "notify", "notify-completion", "pending", "answer", "watch", "keys", "agents",
           "mcp-config", "proxy"}

Command = Callable[[argparse.Namespace], Awaitable[int] | int]


def _exit_code(error: HitlError) -> int:
    if isinstance(error, RequestExpiredError):
        return EXIT_EXPIRED
    if isinstance(error, RequestCancelledError):
        return EXIT_CANCELLED
    if isinstance(error, RelayUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(error, AuthenticationError):
        return EXIT_AUTH
    return EXIT_ERROR


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


# -- agent commands ---------------------------------------------------------------------------

def _e2ee(args: argparse.Namespace) -> bool:
    from hitl_desk.settings import Settings

    return bool(args.e2ee) or Settings.from_env().e2ee


async def _ask_sealed(args: argparse.Namespace, prompt: str, **kwargs: Any) -> int:
    from hitl_desk.client import RelayClient
    from hitl_desk.e2ee import AgentEncryption
    from hitl_desk.settings import Settings

    settings = Settings.from_env()
    async with RelayClient.for_agent(settings, args.url) as client:
        print(await AgentEncryption(client, settings, args.agent_name).ask(prompt, **kwargs))
    return 0


async def cmd_request(args: argparse.Namespace) -> int:
    """Ask the human; print only the answer."""
    from hitl_desk.client import RelayClient, answer_deadline
    from hitl_desk.sdk import answer_of

    if _e2ee(args):
        return await _ask_sealed(args, args.prompt, choices=args.choice, placeholder=args.placeholder_text,
                                 timeout_seconds=args.timeout)
    async with RelayClient.for_agent(url=args.url) as client:
        created = await client.create_request(
            args.prompt, choices=args.choice, placeholder_text=args.placeholder_text,
            timeout_seconds=args.timeout, default_answer=args.default_answer, agent_name=args.agent_name)
        done = await client.wait_for_answer(created.id, deadline=answer_deadline(created))
    if args.json:
        _print_json(done.model_dump(mode="json"))
        return 0 if done.status == "answered" else _exit_code(_closed_error(done))
    print(answer_of(done))
    return 0


def _closed_error(request: Any) -> HitlError:
    from hitl_desk.sdk import answer_of

    try:
        answer_of(request)
    except HitlError as exc:
        return exc
    return HitlError()


async def cmd_notify(args: argparse.Namespace) -> int:
    """Send a notification."""
    from hitl_desk.client import RelayClient
    from hitl_desk.settings import Settings

    settings = Settings.from_env()
    async with RelayClient.for_agent(settings, args.url) as client:
        if _e2ee(args):
            from hitl_desk.e2ee import AgentEncryption

            sent = await AgentEncryption(client, settings, args.agent_name).notify(args.message)
        else:
            sent = await client.notify(args.message, agent_name=args.agent_name)
    print(sent.id if args.json is False else json.dumps(sent.model_dump(mode="json")))
    return 0


async def cmd_notify_completion(args: argparse.Namespace) -> int:
    """Report a finished task; print the human's reply."""
    from hitl_desk.client import RelayClient, answer_deadline
    from hitl_desk.sdk import answer_of

    if _e2ee(args):
        return await _ask_sealed(args, args.summary, kind="completion", timeout_seconds=args.timeout)
    async with RelayClient.for_agent(url=args.url) as client:
        created = await client.create_completion(args.summary, timeout_seconds=args.timeout,
                                                 agent_name=args.agent_name)
        done = await client.wait_for_answer(created.id, deadline=answer_deadline(created))
    print(answer_of(done))
    return 0


async def cmd_agents(args: argparse.Namespace) -> int:
    """List or create agents."""
    from hitl_desk.client import RelayClient
    from hitl_desk.display import visible_line

    async with RelayClient.for_owner(url=args.url) as client:
        if args.agents_command == "create":
            agent = await client.create_agent(args.name)
            print(agent.id)
        else:
            for agent in await client.list_agents():
                print(f"{agent.id}  {visible_line(agent.name)}")
    return 0


def _lazy(name: str) -> Command:
    """A command from ``hitl_desk.approver``, imported only when it runs."""
    def run(args: argparse.Namespace) -> Awaitable[int] | int:
        import importlib

        command: Command = getattr(importlib.import_module("hitl_desk.approver"), name)
        return command(args)
    return run


async def cmd_proxy(args: argparse.Namespace) -> int:
    """Serve the stdio E2EE proxy."""
    from hitl_desk.proxy import serve

    return await serve(args.relay_url or args.url, args.agent_name, progress_interval=args.progress_interval)


# -- parser -----------------------------------------------------------------------------------

def build_parser(with_plugins: bool = True) -> argparse.ArgumentParser:
    """The full command line, plugins included."""
    parser = argparse.ArgumentParser(prog="hitl-desk", description="Human-in-the-loop relay on your desktop.")
    parser.add_argument("--url", help="relay base URL (default: HITL_SERVER_URL or http://127.0.0.1:8765)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = _Subparsers(parser.add_subparsers(dest="command", metavar="COMMAND"), common)

    p = sub.add_parser("request", help="ask the human and print the answer")
    p.add_argument("--prompt", required=True)
    p.add_argument("--choice", action="append", help="a choice (repeat for more)")
    p.add_argument("--placeholder-text")
    p.add_argument("--timeout", type=float, help="seconds before the request expires (max 900)")
    p.add_argument("--default-answer", help="answer returned if nobody answers in time")
    p.add_argument("--agent-name")
    p.add_argument("--json", action="store_true", help="print the whole request as JSON")
    p.add_argument("--e2ee", action="store_true", help="seal the content end to end (or HITL_E2EE_ENABLED=true)")
    p.set_defaults(func=cmd_request)

    p = sub.add_parser("notify", help="send a notification")
    p.add_argument("--message", required=True)
    p.add_argument("--agent-name")
    p.add_argument("--json", action="store_true")
    p.add_argument("--e2ee", action="store_true", help="seal the content end to end")
    p.set_defaults(func=cmd_notify)

    p = sub.add_parser("notify-completion", help="report a finished task and print the reply")
    p.add_argument("--summary", required=True)
    p.add_argument("--timeout", type=float)
    p.add_argument("--agent-name")
    p.add_argument("--e2ee", action="store_true", help="seal the content end to end")
    p.set_defaults(func=cmd_notify_completion)

    p = sub.add_parser("pending", help="list pending requests")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("cmd_pending"))

    p = sub.add_parser("answer", help="answer a pending request")
    p.add_argument("request_id")
    p.add_argument("text")
    p.set_defaults(func=_lazy("cmd_answer"))

    p = sub.add_parser("watch", help="print events as they happen")
    p.add_argument("--since", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lazy("cmd_watch"))

    p = sub.add_parser("keys", help="manage API keys")
    ks = p.add_subparsers(dest="keys_command", required=True)
    k = ks.add_parser("create")
    k.add_argument("--agent", required=True)
    k.add_argument("--label")
    ks.add_parser("list")
    k = ks.add_parser("revoke")
    k.add_argument("prefix")
    ks.add_parser("fingerprint", help="short fingerprints of the E2EE keys, to compare on both sides")
    ks.add_parser("trust-desk", help="trust the desk key the relay serves now (after comparing fingerprints)")
    k = ks.add_parser("trust-agent", help="forget an agent's pinned key; its next request pins the new one")
    k.add_argument("agent_id")
    k = ks.add_parser("register-desk", help="make sure the relay serves this machine's desk key")
    k.add_argument("--replace", action="store_true", help="replace a different desk key on the relay")
    p.set_defaults(func=_lazy("cmd_keys"))

    p = sub.add_parser("proxy", help="stdio MCP server for agents: plaintext to the agent, ciphertext to the relay")
    p.add_argument("relay_url", nargs="?", help="the relay (default: --url / HITL_SERVER_URL)")
    p.add_argument("--agent-name")
    p.add_argument("--progress-interval", type=float, default=20.0,
                   help="seconds between progress notifications while the human has not answered")
    p.set_defaults(func=cmd_proxy)

    p = sub.add_parser("agents", help="list or create agents")
    ags = p.add_subparsers(dest="agents_command", required=True)
    ags.add_parser("list")
    a = ags.add_parser("create")
    a.add_argument("--name", required=True)
    p.set_defaults(func=cmd_agents)

    from hitl_desk.mcpconfig import CLIENTS, emit

    p = sub.add_parser("mcp-config", help="print MCP configuration for an agent client, minting a key")
    p.add_argument("client", choices=CLIENTS)
    p.add_argument("--key", help="an existing agent API key (default: mint one with the owner credential)")
    p.add_argument("--agent", help="the agent a minted key belongs to (default: the client's name)")
    p.set_defaults(func=lambda a: emit(a.client, url=a.url, key=a.key, agent=a.agent))

    if with_plugins:
        _load_plugins(sub)
    return parser


class _Subparsers:
    """``add_parser`` that gives every command the shared ``--url`` option."""

    def __init__(self, action: Any, common: argparse.ArgumentParser) -> None:
        self._action, self._common = action, common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._action.add_parser(name, parents=[self._common], **kwargs)
        return parser


def _load_plugins(sub: Any) -> None:
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError as exc:  # an optional part not installed: its command is left out
            logging.getLogger(__name__).debug("command %s unavailable: %s", entry.name, exc)
            continue
        register(sub)


def _command_word(argv: list[str]) -> str | None:
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--url":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hitl-desk`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = _command_word(argv)
    if first is None and not any(a in ("-h", "--help") for a in argv):
        argv.append(DEFAULT_COMMAND)
        first = DEFAULT_COMMAND
    parser = build_parser(with_plugins=first not in BUILTIN)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except HitlError as exc:
        print(f"hitl-desk: {exc.message}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
