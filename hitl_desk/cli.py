"""``hitl-desk``: ask, notify, approve and administer from the shell.

Data goes to stdout, messages to stderr.  Exit codes:
0 success · 1 error · 2 usage · 3 expired or timed out · 4 cancelled · 5 relay unavailable ·
6 authentication failed · 130 interrupted (Ctrl+C; a waiting question is withdrawn first).

Commands that live in other packages (``relay``, ``tui``, ``tray``) plug in through the
``hitl_desk.commands`` entry-point group, so this core never imports them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from hitl_desk.errors import HitlError, RelayUnavailableError
from hitl_desk.exitcode import EXIT_INTERRUPTED, EXIT_USAGE, exit_code

PLUGIN_GROUP = "hitl_desk.commands"
DEFAULT_COMMAND = "tui"
BUILTIN = {"request", "notify", "notify-completion", "pending", "answer", "watch", "keys", "agents",
           "mcp-config", "proxy", "token", "cancel", "discover", "rules", "audit", "hook", "hooks", "login",
           "logout", "oauth", "pair", "devices"}

ASK = "hitl_desk.ask_cli"  # the agent commands, imported only when one runs (and light: no asyncio)
PAIR = "hitl_desk.pair_cli"  # pairing and paired devices

Command = Callable[[argparse.Namespace], Awaitable[int] | int]


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


def _lazy(name: str, module: str = "hitl_desk.approve_cli") -> Command:
    """A command from ``module``, imported only when it runs (the CLI starts light)."""
    def run(args: argparse.Namespace) -> Awaitable[int] | int:
        import importlib

        command: Command = getattr(importlib.import_module(module), name)
        return command(args)
    return run


async def cmd_proxy(args: argparse.Namespace) -> int:
    """Serve the stdio E2EE proxy."""
    from hitl_desk.proxy import serve

    return await serve(args.relay_url or args.url, args.agent_name, progress_interval=args.progress_interval)


# -- owner credential -------------------------------------------------------------------------

async def cmd_token(args: argparse.Namespace) -> int:
    """``token rotate``: a new owner credential, the old one revoked; prints where it is."""
    from hitl_desk.client import RelayClient
    from hitl_desk.launcher import relay_answers
    from hitl_desk.settings import Settings

    settings = Settings.from_env()
    url = (args.url or settings.server_url).rstrip("/")
    if args.offline:
        if await relay_answers(url):
            raise HitlError(f"A relay answers at {url}: rotate without --offline so it revokes the old "
                            "credential at once.")
        for path in (settings.secret_path, settings.owner_token_path):
            path.unlink(missing_ok=True)  # a new secret invalidates every credential signed by the old
        print(settings.owner_token_path)
        print("hitl-desk: the old owner credential is revoked; the relay writes the new one there when it "
              "next starts. Restart open approvers (TUI, tray) after that.", file=sys.stderr)
        return 0
    try:
        async with RelayClient.for_owner(settings, url) as client:
            rotated = await client.rotate_owner_token()
    except RelayUnavailableError as exc:
        raise RelayUnavailableError(f"{exc.message} With the relay stopped, run `hitl-desk token rotate "
                                    "--offline`.") from None
    print(rotated.path)
    print("hitl-desk: new owner credential written there; the old one is refused from now on. Restart open "
          "approvers (TUI, tray) so they read it.", file=sys.stderr)
    return 0


# -- parser -----------------------------------------------------------------------------------

URL_HELP = "relay base URL; host:port means http://host:port (default: HITL_SERVER_URL or http://127.0.0.1:8765)"


def _agent_option(parser: argparse.ArgumentParser, dest: str, *, required: bool = False,
                  what: str = "the asking agent's name, as the human sees it") -> None:
    """``--agent NAME``, the one spelling everywhere; ``--agent-name`` stays as an alias."""
    parser.add_argument("--agent", "--agent-name", dest=dest, required=required, metavar="NAME",
                        help=what)


def _url_arg(text: str) -> str:
    """``--url``: an http(s) relay address; ``host:port`` alone means ``http://host:port``."""
    from hitl_desk.settings import server_url

    try:
        return server_url(text)
    except HitlError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def build_parser(with_plugins: bool = True, only: str | None = None) -> argparse.ArgumentParser:
    """The full command line, plugins included; with ``only``, just that builtin command's parser
    (the others are left out, so an agent command does not pay for building them)."""
    parser = argparse.ArgumentParser(prog="hitl-desk", description="Human-in-the-loop relay on your desktop.")
    parser.add_argument("--url", type=_url_arg, help=URL_HELP)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", type=_url_arg, default=argparse.SUPPRESS, help=URL_HELP)
    sub = _Subparsers(parser.add_subparsers(dest="command", metavar="COMMAND"), common, only)

    p = sub.add_parser("request", help="ask the human and print the answer")
    p.add_argument("--prompt", required=True, help="the question, in Markdown")
    p.add_argument("--choice", action="append", help="a choice (repeat for more)")
    p.add_argument("--placeholder-text", help="a hint shown in the empty answer box")
    p.add_argument("--timeout", type=float, help="seconds before the request expires (the relay caps it, 900 by "
                                                  "default, and says so)")
    p.add_argument("--default-answer", help="answer returned if nobody answers in time (one of the choices, "
                                            "if any)")
    _agent_option(p, "agent_name")
    p.add_argument("--json", action="store_true", help="print the whole request as JSON")
    p.add_argument("--e2ee", action="store_true", help="seal the content end to end (or HITL_E2EE_ENABLED=true)")
    p.set_defaults(func=_lazy("cmd_request", ASK))

    p = sub.add_parser("notify", help="send a notification")
    p.add_argument("--message", required=True, help="the notification, in Markdown")
    _agent_option(p, "agent_name")
    p.add_argument("--json", action="store_true", help="print the delivered notification as JSON, not its id")
    p.add_argument("--e2ee", action="store_true", help="seal the content end to end")
    p.set_defaults(func=_lazy("cmd_notify", ASK))

    p = sub.add_parser("notify-completion", help="report a finished task and print the reply")
    p.add_argument("--summary", required=True, help="what was done and what is left, in Markdown")
    p.add_argument("--timeout", type=float, help="seconds to wait for the reply (capped by the relay)")
    _agent_option(p, "agent_name")
    p.add_argument("--e2ee", action="store_true", help="seal the content end to end")
    p.set_defaults(func=_lazy("cmd_notify_completion", ASK))

    p = sub.add_parser("cancel", help="withdraw a pending request (the asking agent, or the owner)")
    p.add_argument("request_id", help="the request's id (req_…)")
    p.add_argument("--reason", choices=["agent_cancelled", "dismissed"],
                   help="why, as approvers show it (default: agent_cancelled with an agent key, "
                        "dismissed with the owner credential)")
    p.set_defaults(func=_lazy("cmd_cancel", ASK))

    p = sub.add_parser("pending", help="list pending requests")
    p.add_argument("--json", action="store_true", help="print them as a JSON array")
    p.set_defaults(func=_lazy("cmd_pending"))

    p = sub.add_parser("answer", help="answer a pending request")
    p.add_argument("request_id", help="the request's id (req_…), as pending lists it")
    p.add_argument("text", help="the answer")
    p.set_defaults(func=_lazy("cmd_answer"))

    p = sub.add_parser("watch", help="print events as they happen")
    p.add_argument("--since", type=int, help="replay the events after this sequence number first (0: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_lazy("cmd_watch"))

    p = sub.add_parser("keys", help="manage API keys and end-to-end encryption keys")
    ks = p.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    k = ks.add_parser("create", help="mint an API key for an agent (shown once)")
    _agent_option(k, "agent", required=True, what="the agent the key belongs to (created if new)")
    k.add_argument("--label", help="a note to tell keys apart in 'keys list'")
    ks.add_parser("list", help="list API keys by prefix, with their agent and last use")
    k = ks.add_parser("revoke", help="revoke an API key")
    k.add_argument("prefix", help="the key's prefix, as 'keys list' shows it")
    ks.add_parser("fingerprint", help="short fingerprints of the E2EE keys, to compare on both sides")
    ks.add_parser("trust-desk", help="trust the desk key the relay serves now (after comparing fingerprints)")
    k = ks.add_parser("trust-agent", help="trust an agent id's key (after comparing fingerprints): the key its "
                      "pending requests carry, else the key its next request brings")
    k.add_argument("agent_id", help="the agent's id (agt_…), as the warning names it")
    k = ks.add_parser("register-desk", help="make sure the relay serves this machine's desk key")
    k.add_argument("--replace", action="store_true", help="replace a different desk key on the relay")
    p.set_defaults(func=_lazy("cmd_keys"))

    p = sub.add_parser("proxy", help="stdio MCP server for agents: plaintext to the agent, ciphertext to the relay")
    p.add_argument("relay_url", nargs="?", type=_url_arg, help="the relay (default: --url / HITL_SERVER_URL)")
    _agent_option(p, "agent_name")
    p.add_argument("--progress-interval", type=float, default=20.0,
                   help="seconds between progress notifications while the human has not answered")
    p.set_defaults(func=cmd_proxy)

    p = sub.add_parser("agents", help="list or create agents")
    ags = p.add_subparsers(dest="agents_command", required=True, metavar="AGENTS_COMMAND")
    ags.add_parser("list", help="list agents with their ids")
    a = ags.add_parser("create", help="register an agent and print its id")
    a.add_argument("--name", required=True, help="the agent's name, as approvers show it")
    p.set_defaults(func=cmd_agents)

    p = sub.add_parser("token", help="manage the owner credential ($HITL_HOME/owner.token)")
    ts = p.add_subparsers(dest="token_command", required=True)
    t = ts.add_parser("rotate", help="issue a new owner credential and revoke the old one; print its path")
    t.add_argument("--offline", action="store_true",
                   help="the relay is stopped: revoke now, the relay writes the new credential when it starts")
    p.set_defaults(func=cmd_token)

    if sub.wants("mcp-config"):  # its module is imported only when the command may run
        from hitl_desk.mcpconfig import CLIENTS, emit

        p = sub.add_parser("mcp-config", help="print MCP configuration for an agent client, minting a key once")
        p.add_argument("client", choices=CLIENTS, help="the agent client: " + ", ".join(CLIENTS))
        p.add_argument("--key", help="an existing agent API key (default: the key minted for this client before, "
                                     "else a new one)")
        _agent_option(p, "agent", what="the agent a minted key belongs to (default: the client's name)")
        p.add_argument("--oauth", action="store_true", help="no key: the client signs in (claude-code, cursor, "
                                                            "vscode, gemini)")
        p.set_defaults(func=lambda a: _lazy("emit_oauth", "hitl_desk.oauth_config")(a) if a.oauth
                       else emit(a.client, url=a.url, key=a.key, agent=a.agent))

    from hitl_desk.discover_cli import register as register_discover

    register_discover(sub)

    from hitl_desk.rules_cli import register as register_rules  # rules and audit, in their own module

    register_rules(sub)

    p = sub.add_parser("pair", help="pair a phone or another desktop: start here (shows a QR code), or join with URL")
    p.add_argument("link", nargs="?", metavar="URL", help="on the new device: the link the desk shows")
    p.add_argument("--name", help="this device's name as the desk lists it (default: the host name)")
    p.add_argument("--device-url", type=_url_arg,
                   help="on the desk: the relay's address for devices (default: its LAN listener)")
    p.set_defaults(func=_lazy("cmd_pair", PAIR))
    p = sub.add_parser("devices", help="list or revoke paired devices")
    ds = p.add_subparsers(dest="devices_command", required=True, metavar="DEVICES_COMMAND")
    ds.add_parser("list", help="paired devices with their key fingerprint and last use")
    ds.add_parser("revoke", help="revoke a device at once (its open streams close)").add_argument(
        "device_id", help="the device's id (dev_…), as 'devices list' shows it")
    p.set_defaults(func=_lazy("cmd_devices", PAIR))

    from hitl_desk.hooks_cli import add_parsers as add_hook_parsers

    add_hook_parsers(sub)

    from hitl_desk.oauth_cli import register as register_oauth

    register_oauth(sub)  # login, logout, oauth list|revoke
    if with_plugins:
        _load_plugins(sub)
    return parser


class _Subparsers:
    """``add_parser`` that gives every command the shared ``--url`` option."""

    def __init__(self, action: Any, common: argparse.ArgumentParser, only: str | None = None) -> None:
        self._action, self._common, self._only = action, common, only

    def wants(self, name: str) -> bool:
        """Whether this run builds the parser of command ``name``."""
        return self._only is None or name == self._only

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if not self.wants(name):
            return cast(argparse.ArgumentParser, _LEFT_OUT)
        parser: argparse.ArgumentParser = self._action.add_parser(name, parents=[self._common], **kwargs)
        return parser


class _LeftOut:
    """Stands in for the parser of a command this run leaves out: every call does nothing."""

    def __getattr__(self, name: str) -> Callable[..., _LeftOut]:
        return lambda *args, **kwargs: self


_LEFT_OUT = _LeftOut()


def _load_plugins(sub: Any) -> None:
    import logging
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
    if argv[:1] == ["hook"]:  # a command hook runs per tool call: straight to its stdlib-only module
        from hitl_desk.hook_cmd import main as run_hook

        return run_hook(argv[1:])
    first = _command_word(argv)
    if first is None and not any(a in ("-h", "--help") for a in argv):
        argv.append(DEFAULT_COMMAND)
        first = DEFAULT_COMMAND
    only = None  # a builtin command: build its parser alone (top-level help needs them all)
    if first is not None and first in BUILTIN and not any(a in ("-h", "--help") for a in argv[:argv.index(first)]):
        only = first
    parser = build_parser(with_plugins=first not in BUILTIN, only=only)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        result = args.func(args)
        if isinstance(result, Coroutine):  # asyncio is imported only for the commands that need it
            import asyncio

            result = asyncio.run(result)
        sys.stdout.flush()  # a reader that left shows up here, inside the handler below
        return int(result or 0)
    except HitlError as exc:
        print(f"hitl-desk: {exc.message}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`watch | head -2`): that is how a pipe ends, not an error.
        _detach_stdout()
        return 0


def _detach_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
