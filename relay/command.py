"""The ``hitl-desk relay`` command (plugged into the CLI through an entry point)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from hitl_desk.settings import LOOPBACK_HOSTS, Settings
from relay.context import RelayConfig
from relay.push.target import add_arguments as add_ntfy_arguments
from relay.push.target import from_args as ntfy_from_args


def config_from_args(args: argparse.Namespace, settings: Settings | None = None) -> RelayConfig:
    """A relay configuration from flags, falling back to ``HITL_SERVER_URL`` and ``HITL_HOME``."""
    settings = settings or Settings.from_env()
    host, port = settings.listen_address
    limits = {name: value for name in _LIMITS if (value := getattr(args, name, None)) is not None}
    return RelayConfig(home=settings.home, host=getattr(args, "host", None) or host,
                       port=port if getattr(args, "port", None) is None else args.port,
                       max_timeout=getattr(args, "max_timeout", None) or RelayConfig.max_timeout,
                       allowed_hosts=tuple(getattr(args, "allow_host", None) or ()),
                       ntfy=ntfy_from_args(args),
                       **limits, **_lifecycle_options(args), **_lan_options(args, settings))


def _lan_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``--lan``, ``--lan-address`` (implies ``--lan``) and ``--lan-port``, else the saved LAN switch."""
    from hitl_desk.lan import parse_lan_address

    choice = settings.lan_choice()
    addresses = tuple(parse_lan_address(a) for a in getattr(args, "lan_address", None) or ()) or choice.addresses
    tls = bool(getattr(args, "lan_tls", False))
    options: dict[str, Any] = {"lan": bool(getattr(args, "lan", False) or getattr(args, "lan_address", None)
                                           or tls or choice.enabled), "lan_addresses": addresses, "lan_tls": tls}
    if getattr(args, "no_mdns", False):
        options["mdns"] = False
    for name in ("lan_port", "lan_poll"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    return options


_LIMITS = ("max_connections", "header_timeout", "idle_timeout", "mcp_sessions_per_key", "mcp_session_idle")
"""RelayConfig fields that have a flag of the same name (``--max-connections`` ...)."""


def _lifecycle_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--max-pending`` (0: no cap) and ``--leave-grace``, where given."""
    options: dict[str, Any] = {}
    max_pending = getattr(args, "max_pending", None)
    if max_pending is not None:
        options["max_pending"] = max_pending or None
    leave_grace = getattr(args, "leave_grace", None)
    if leave_grace is not None:
        options["leave_grace"] = leave_grace
    return options


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    import os

    from relay.app import serve_forever

    # Everything this process creates holds prompts and answers (or keys): owner-only, always.
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mcp").setLevel(logging.WARNING)  # its session-manager start/stop lines are noise
    config = config_from_args(args)
    if config.host not in LOOPBACK_HOSTS:
        raise SystemExit("hitl-desk: the relay's main listener (agents, MCP, the owner) stays on loopback; "
                         "--lan adds a LAN listener for pairing and paired devices (--lan-address ADDR chooses "
                         "its address)")
    asyncio.run(serve_forever(config))  # a failed start is one RelayStartError line (relay.app)
    return 0


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def register(sub: Any) -> None:
    """Add ``relay`` to the CLI."""
    p = sub.add_parser("relay", help="run the relay server")
    p.add_argument("--host", help="listen address (default from HITL_SERVER_URL, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default from HITL_SERVER_URL, else 8765)")
    p.add_argument("--max-timeout", type=float, help="cap on how long a request waits, seconds (default 900)")
    p.add_argument("--max-pending", type=_count, metavar="N",
                   help="pending requests one agent may have at once; more get 429 too_many_pending "
                        "(default 100, 0: no cap)")
    p.add_argument("--leave-grace", type=float, metavar="SECONDS",
                   help="how long a request whose waiting agent hung up stays pending for it to come back "
                        "before it is withdrawn as 'agent left' (default 30)")
    p.add_argument("--lan", action="store_true",
                   help="also serve a LAN listener (pairing and paired devices only), advertised over mDNS")
    p.add_argument("--lan-address", action="append", metavar="ADDR",
                   help="the LAN listener's IPv4 address (repeatable; implies --lan; default: the "
                        "default-route interface's, followed as it changes)")
    p.add_argument("--lan-port", type=int, metavar="PORT", help="the LAN listener's port (default: --port)")
    p.add_argument("--no-mdns", action="store_true", help="do not advertise the LAN listener over mDNS")
    p.add_argument("--lan-tls", action="store_true",
                   help="serve the LAN listener over https with a certificate of the relay's own CA, which a "
                        "phone installs from /hitl-desk-ca.pem (implies --lan)")
    p.add_argument("--lan-poll", type=float, metavar="S",
                   help="seconds between checks of the LAN addresses and the desk key, to keep the listener "
                        "and its mDNS advert current (default 10; 0: never)")
    p.add_argument("--allow-host", action="append", help="extra Host name accepted (on both listeners)")
    p.add_argument("--max-connections", type=int, metavar="N",
                   help="most connections served at once; the last eighth only for approvers "
                        "(default: fitted below the open-file limit, at most 4096)")
    p.add_argument("--header-timeout", type=float, metavar="S",
                   help="seconds a connection has to send a request's headers (default 5)")
    p.add_argument("--idle-timeout", type=float, metavar="S",
                   help="seconds a connection may stay idle between requests (default 20)")
    p.add_argument("--mcp-sessions-per-key", type=int, metavar="N",
                   help="MCP sessions one API key may hold; past it the longest-idle one ends (default 32)")
    p.add_argument("--mcp-session-idle", type=float, metavar="S",
                   help="seconds before an MCP session with no call in flight ends (default 300)")
    add_ntfy_arguments(p)
    p.set_defaults(func=run)
