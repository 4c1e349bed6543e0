"""The ``hitl-desk`` exit codes, one per error class, shared by every command module."""

from __future__ import annotations

from hitl_desk.errors import (
    AuthenticationError,
    HitlError,
    RelayUnavailableError,
    RequestCancelledError,
    RequestExpiredError,
)

EXIT_ERROR, EXIT_USAGE, EXIT_EXPIRED, EXIT_CANCELLED, EXIT_UNAVAILABLE, EXIT_AUTH = 1, 2, 3, 4, 5, 6
EXIT_INTERRUPTED = 130


def exit_code(error: HitlError) -> int:
    """The exit code documented for ``error``'s class."""
    if isinstance(error, RequestExpiredError):
        return EXIT_EXPIRED
    if isinstance(error, RequestCancelledError):
        return EXIT_CANCELLED
    if isinstance(error, RelayUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(error, AuthenticationError):
        return EXIT_AUTH
    return EXIT_ERROR
