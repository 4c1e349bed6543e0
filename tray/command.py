"""``hitl-desk tray``: the system-tray icon and desktop notifications; ``--autostart on|off``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hitl_desk.client import RelayClient
from hitl_desk.errors import AuthenticationError, PermissionDeniedError
from hitl_desk.settings import Settings
from tray import autostart
from tray.instance import InstanceLock, TrayAlreadyRunningError

LOG_FILE = "tray.log"
EXIT_ERROR = 1
"""The tray stopped on an error it could not recover from (logged to ``tray.log``)."""
EXIT_NO_TRAY = 1
"""No icon could be shown (no display or no usable pystray backend)."""
EXIT_UNSUPPORTED = 2
"""``--autostart`` on a platform that has no support for it yet."""
EXIT_AUTH = 6
"""The relay rejected the owner credential (the CLI's code for authentication errors)."""
EXIT_ALREADY_RUNNING = 0
"""Another tray already runs for this ``HITL_HOME``: what was asked for (a tray) is there, so
a second start from autostart, a login script or a restart-on-failure unit is no error."""


def started_line(url: str, home: Path) -> str:
    """The one line ``hitl-desk tray`` prints on stderr once its icon is up."""
    return (f"hitl-desk tray: watching the relay at {url} for {home} (pid {os.getpid()}); "
            "quit from the icon's menu, or with Ctrl+C here")


def set_autostart(on: bool, url: str | None) -> int:
    """Install or remove the login entry that starts the tray; print what was done."""
    try:
        if on:
            path = autostart.enable(autostart.tray_command(url))
            print(f"hitl-desk tray will start at login: {path}")
        else:
            removed = autostart.disable()
            print(f"removed {removed}" if removed else "no autostart entry to remove")
    except autostart.AutostartUnsupportedError as exc:
        print(f"hitl-desk: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    return 0


def _has_display() -> bool:
    """True unless this is Linux/BSD with no X11 or Wayland session to put an icon on."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _log_to(settings: Settings) -> None:
    """Log to ``tray.log`` in ``HITL_HOME``; warnings also to stderr."""
    settings.home.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(settings.home / LOG_FILE)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO, handlers=[to_file, to_stderr])


async def run(args: argparse.Namespace) -> int:
    """Run the tray until Quit (or SIGINT/SIGTERM); or only switch autostart."""
    url: str | None = getattr(args, "url", None)
    if args.autostart:
        return set_autostart(args.autostart == "on", url)
    if not _has_display():
        print("hitl-desk: no graphical session (DISPLAY is not set) to show a tray icon in",
              file=sys.stderr)
        return EXIT_NO_TRAY
    settings = Settings.from_env()
    token = settings.read_owner_token()
    if token is None:
        raise AuthenticationError(f"No owner credential in {settings.home}: is HITL_HOME the relay's?")
    lock = InstanceLock(settings.home)
    try:
        lock.acquire()
    except TrayAlreadyRunningError as exc:
        print(f"hitl-desk: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    try:
        return await _run_tray(url or settings.server_url, token, settings, args.no_notifications)
    finally:
        lock.release()


async def _run_tray(url: str, token: str, settings: Settings, no_notifications: bool) -> int:
    """Run the tray app (this process holds the instance lock); return the exit code."""
    from tray.app import TrayApp, TrayUnavailableError

    _log_to(settings)
    async with RelayClient(url, token, via="tray") as client:
        app = TrayApp(client, notifications=not no_notifications, settings=settings)
        _quit_on_signals(app.quit)
        try:
            await app.run(on_started=lambda: print(
                started_line(client.base_url, settings.home), file=sys.stderr, flush=True))
        except TrayUnavailableError as exc:
            print(f"hitl-desk: {exc}", file=sys.stderr)
            return EXIT_NO_TRAY
    failure = app.failure
    if isinstance(failure, (AuthenticationError, PermissionDeniedError)):
        print(f"hitl-desk: {failure.message}", file=sys.stderr)
        return EXIT_AUTH
    if failure is not None:
        print(f"hitl-desk: the tray stopped: {failure} (see {settings.home / LOG_FILE})",
              file=sys.stderr)
        return EXIT_ERROR
    return 0


def _quit_on_signals(quit_app: Callable[[], None]) -> None:
    """Stop the tray cleanly on SIGINT and SIGTERM (where the loop supports signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, quit_app)
        except (NotImplementedError, RuntimeError):  # Windows' proactor loop has none
            return


def register(sub: Any) -> None:
    """Add ``tray`` to the CLI."""
    p = sub.add_parser(
        "tray", help="tray icon and desktop notifications for pending requests",
        description="Show a tray icon with the number of pending requests and a desktop "
        "notification for each new one. One tray runs per HITL_HOME: a second one says so "
        "and exits 0. Exit codes: 0 quit (or one already runs), 1 no tray icon could be shown "
        "or an error (see tray.log), "
        "2 autostart not supported here, 6 credential rejected.",
    )
    p.add_argument("--autostart", choices=("on", "off"),
                   help="install or remove the entry that starts the tray at login, then exit")
    p.add_argument("--no-notifications", action="store_true",
                   help="only the icon: no desktop notifications")
    p.set_defaults(func=run)
