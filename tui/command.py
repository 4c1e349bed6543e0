"""``hitl-desk tui`` (and ``hitl-desk`` with no arguments): make sure a relay runs, open the TUI."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from hitl_desk.client import RelayClient
from hitl_desk.errors import AuthenticationError, HitlError
from hitl_desk.launcher import RelayHandle, ensure_relay
from hitl_desk.settings import Settings

LOG_FILE = "tui.log"


async def run(args: argparse.Namespace) -> int:
    """Connect (starting an embedded relay on loopback if none answers), run the app, clean up."""
    from tui.app import HitlDeskApp

    settings = Settings.from_env()
    url: str | None = getattr(args, "url", None)
    try:
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The TUI owns the terminal: log to a file, never to stderr.
        logging.basicConfig(filename=settings.home / LOG_FILE, level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except OSError as exc:
        raise HitlError(f"cannot use HITL_HOME {settings.home} ({exc.strerror or exc}): set HITL_HOME to a "
                        "directory you own.") from None
    if args.no_start:
        handle = RelayHandle((url or settings.server_url).rstrip("/"), started_here=False)
        return await _open(HitlDeskApp, handle, settings, args.request)
    async with ensure_relay(settings, url) as handle:
        return await _open(HitlDeskApp, handle, settings, args.request)


async def _open(app_class: Any, handle: RelayHandle, settings: Settings, request_id: str | None) -> int:
    token = settings.read_owner_token()
    if token is None:
        raise AuthenticationError(settings.missing_credential_message())
    async with RelayClient(handle.url, token, via="tui") as client:
        app = app_class(client, url=handle.url, started_here=handle.started_here, settings=settings,
                        focus_home=settings.home, request_id=request_id)
        await app.run_async()
    if app.return_code:
        print(f"hitl-desk: the TUI stopped with code {app.return_code}", file=sys.stderr)
    return int(app.return_code or 0)


def register(sub: Any) -> None:
    """Add ``tui`` to the CLI."""
    p = sub.add_parser("tui", help="answer agents from the terminal (starts a relay here if none answers)")
    p.add_argument("--no-start", action="store_true",
                   help="only connect; never start an embedded relay")
    p.add_argument("--request", metavar="ID",
                   help="open this pending request once connected (the tray uses it)")
    p.set_defaults(func=run)
