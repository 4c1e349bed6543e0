"""``hitl-desk tui`` (and ``hitl-desk`` with no arguments): make sure a relay runs, open the TUI."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from hitl_desk.device_client import DeviceCredential, approver_client
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
    paired = DeviceCredential.load(settings)
    if args.no_start or paired is not None:  # a paired device follows its desk's relay, never starts one
        relay_url = url or (paired.relay_url if paired is not None else settings.server_url)
        handle = RelayHandle(relay_url.rstrip("/"), started_here=False)
        return await _open(HitlDeskApp, handle, settings, args.request)
    async with ensure_relay(settings, url) as handle:
        return await _open(HitlDeskApp, handle, settings, args.request)


async def _open(app_class: Any, handle: RelayHandle, settings: Settings, request_id: str | None) -> int:
    if settings.read_owner_token() is None and DeviceCredential.load(settings) is None:
        raise AuthenticationError(settings.missing_credential_message())
    async with approver_client(settings, handle.url, via="tui") as client:
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
