"""Where pushes go: an ntfy server and topic the user names, an optional token, and when to push.

``hitl-desk relay --ntfy URL/TOPIC`` (or ``HITL_NTFY``): the last path segment is the topic, the
rest the server (a path prefix is kept, for a server behind a reverse proxy).  The token comes
from a file (``--ntfy-token-file`` / ``HITL_NTFY_TOKEN_FILE``) or ``HITL_NTFY_TOKEN``, never from
the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hitl_desk.errors import RelayStartError

TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
"""ntfy's topic names (its server refuses others)."""
DEFAULT_AFTER = 0.0


NtfyTargetError = RelayStartError
"""What an unusable ntfy address, token file or delay raises: the relay does not start without the
pushes asked of it (``relay_start_failed``, the message says why)."""


@dataclass(frozen=True)
class NtfyTarget:
    """An ntfy topic to wake the phone through, and the escalation rule."""

    server: str
    """The server's base URL (``http://192.168.1.5:8080``); JSON pushes are POSTed to it."""
    topic: str
    """The topic the phone's ntfy app subscribes to."""
    token: str | None = field(default=None, repr=False)
    """An ntfy access token, sent as ``Authorization: Bearer``; kept out of reprs and logs."""
    after: float = DEFAULT_AFTER
    """Seconds a request waits unanswered at the desk before the push (0: at once)."""
    notifications: bool = False
    """Also push fire-and-forget notifications (they are pushed at once: nobody answers them)."""

    @property
    def address(self) -> str:
        """The server and topic as the user wrote them, for messages (no token)."""
        return f"{self.server}/{self.topic}"


def parse_target(text: str) -> tuple[str, str]:
    """Split ``URL/TOPIC`` into server and topic; ``host/topic`` alone means https."""
    raw = text.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise NtfyTargetError(f"--ntfy {text!r}: the port is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NtfyTargetError(f"--ntfy {text!r}: use http(s)://SERVER/TOPIC, e.g. http://192.168.1.5:8080/hitl-x7q")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise NtfyTargetError(f"--ntfy {text!r}: give the token with --ntfy-token-file or HITL_NTFY_TOKEN, "
                              "and no query or fragment")
    prefix, _, topic = parts.path.rstrip("/").rpartition("/")
    if not TOPIC.match(topic):
        raise NtfyTargetError(f"--ntfy {text!r}: the topic (last path segment) must be 1-64 letters, digits, "
                              "'-' or '_'")
    return urlunsplit((parts.scheme, parts.netloc, prefix, "", "")), topic


def read_token(path: Path) -> str:
    """The token in a file (surrounding whitespace dropped)."""
    try:
        token = path.expanduser().read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise NtfyTargetError(f"cannot read the ntfy token file {path}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise NtfyTargetError(f"the ntfy token file {path} must hold one token on one line")
    return token


def target_from(url: str | None, *, token_file: str | None = None, after: float | None = None,
                notifications: bool | None = None, environ: Mapping[str, str] | None = None) -> NtfyTarget | None:
    """The push target from flags, falling back to ``HITL_NTFY*`` in the environment; None: no pushes."""
    env = os.environ if environ is None else environ
    url = url or env.get("HITL_NTFY", "").strip() or None
    if url is None:
        return None
    server, topic = parse_target(url)
    token_file = token_file or env.get("HITL_NTFY_TOKEN_FILE", "").strip() or None
    token = read_token(Path(token_file)) if token_file else (env.get("HITL_NTFY_TOKEN", "").strip() or None)
    if after is None:
        after = _seconds(env.get("HITL_NTFY_AFTER", "").strip() or "0", "HITL_NTFY_AFTER")
    if after < 0:
        raise NtfyTargetError("--ntfy-after must be 0 or more seconds")
    if notifications is None:
        notifications = env.get("HITL_NTFY_NOTIFICATIONS", "").strip().lower() in ("1", "true", "yes", "on")
    return NtfyTarget(server, topic, token, after, notifications)


def _seconds(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise NtfyTargetError(f"{name}={text!r} is not a number of seconds") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``relay`` command's ``--ntfy`` options."""
    parser.add_argument("--ntfy", metavar="URL/TOPIC",
                        help="wake the phone through this ntfy server and topic: the push says only 'agent X "
                             "needs you' and links to the phone app (default: HITL_NTFY)")
    parser.add_argument("--ntfy-token-file", metavar="FILE",
                        help="file holding an ntfy access token, sent as a Bearer token (default: "
                             "HITL_NTFY_TOKEN_FILE, else the token in HITL_NTFY_TOKEN)")
    parser.add_argument("--ntfy-after", type=float, metavar="SECONDS",
                        help="push only once a request waited this long unanswered at the desk (default: "
                             "HITL_NTFY_AFTER, else 0: at once)")
    parser.add_argument("--ntfy-notifications", action="store_true", default=None,
                        help="also push fire-and-forget notifications (default: HITL_NTFY_NOTIFICATIONS)")


def from_args(args: argparse.Namespace) -> NtfyTarget | None:
    """The target from the ``relay`` command's flags and the environment (``NtfyTargetError`` when unusable)."""
    return target_from(getattr(args, "ntfy", None), token_file=getattr(args, "ntfy_token_file", None),
                       after=getattr(args, "ntfy_after", None),
                       notifications=getattr(args, "ntfy_notifications", None))
