"""The ``hitl-desk relay`` command (plugged into the CLI through an entry point)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import sys
from typing import Any

from hitl_desk.settings import Settings
from relay.context import RelayConfig

EXIT_PORT_IN_USE = 1


def config_from_args(args: argparse.Namespace, settings: Settings | None = None) -> RelayConfig:
    """A relay configuration from flags, falling back to ``HITL_SERVER_URL`` and ``HITL_HOME``."""
    settings = settings or Settings.from_env()
    host, port = settings.listen_address
    lan = bool(getattr(args, "lan", False))
    chosen_host = getattr(args, "host", None) or ("0.0.0.0" if lan else host)
    return RelayConfig(home=settings.home, host=chosen_host,
                       port=port if getattr(args, "port", None) is None else args.port,
                       max_timeout=getattr(args, "max_timeout", None) or RelayConfig.max_timeout,
                       allowed_hosts=tuple(getattr(args, "allow_host", None) or ()))


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from relay.app import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_args(args)
    if config.host not in ("127.0.0.1", "localhost", "::1") and not args.lan:
        raise SystemExit("hitl-desk: listening beyond loopback needs --lan")
    try:
        asyncio.run(serve_forever(config))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"hitl-desk: port {config.port} on {config.host} is already in use: another relay may be "
              "running (hitl-desk pending talks to it), or choose another port with --port or "
              "HITL_SERVER_URL.", file=sys.stderr)
        return EXIT_PORT_IN_USE
    return 0


def register(sub: Any) -> None:
    """Add ``relay`` to the CLI."""
    p = sub.add_parser("relay", help="run the relay server")
    p.add_argument("--host", help="listen address (default from HITL_SERVER_URL, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default from HITL_SERVER_URL, else 8765)")
    p.add_argument("--max-timeout", type=float, help="cap on how long a request waits, seconds (default 900)")
    p.add_argument("--lan", action="store_true", help="listen beyond loopback (LAN mode)")
    p.add_argument("--allow-host", action="append", help="extra Host name accepted (LAN mode)")
    p.set_defaults(func=run)
