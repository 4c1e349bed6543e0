"""Time for the approver: an injectable clock and the short ages and countdowns it shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware; tests and snapshots pass a fixed one."""


def system_clock() -> datetime:
    """The real time in UTC."""
    return datetime.now(UTC)


def fixed_clock(moment: datetime) -> Clock:
    """A clock stopped at ``moment`` (snapshots and tests)."""
    return lambda: moment


def format_age(then: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit: ``45s``, ``12m``, ``3h``, ``2d``."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def format_countdown(deadline: datetime | None, now: datetime) -> str:
    """Time left until ``deadline`` as ``m:ss`` or ``h:mm:ss``; ``—`` without one."""
    if deadline is None:
        return "—"
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return "0:00"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def seconds_left(deadline: datetime | None, now: datetime) -> float | None:
    """Seconds until ``deadline`` (negative once past), or None without one."""
    return None if deadline is None else (deadline - now).total_seconds()


def format_moment(moment: datetime | None, now: datetime) -> str:
    """A short local-free timestamp: ``HH:MM`` today, ``Mon DD HH:MM`` before."""
    if moment is None:
        return "—"
    moment = moment.astimezone(UTC)
    if moment.date() == now.astimezone(UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%b %d %H:%M")
