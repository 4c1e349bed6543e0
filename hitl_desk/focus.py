"""The desk's own channel between approvers on one machine: "show this request" to an open TUI.

A running TUI listens on ``HITL_HOME/tui.sock`` (a Unix socket, mode 0600 in the 0700 home:
only this user can speak to it).  The tray, asked to open a request, first asks that TUI to
show it and to say which terminal window it runs in, and starts a new terminal only when no
TUI answers.  One JSON line each way: ``ShowRequest`` in, ``Shown`` out.

A socket file left by a TUI that crashed is detected (nothing accepts on it) and replaced; a
live one is never taken over, so a second TUI simply does not listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

SOCKET_FILE = "tui.sock"
ASK_TIMEOUT = 2.0
"""Seconds the tray waits for a TUI's answer before it opens a terminal instead."""
LINE_LIMIT = 4096
_PATH_LIMIT = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_UNIX = sys.platform != "win32" and hasattr(socket, "AF_UNIX")
"""asyncio has no Unix sockets on Windows: there the tray opens a terminal every time."""


class ShowRequest(BaseModel):
    """Bring the TUI to the front, on ``request_id`` when one is given."""

    model_config = ConfigDict(extra="forbid")
    request_id: str | None = Field(default=None, min_length=1, max_length=200)


class Shown(BaseModel):
    """The TUI's answer: whether it shows the request, and the X11 window it runs in."""

    model_config = ConfigDict(extra="ignore")
    shown: bool
    """False when the request is not pending there (the TUI says so on its own screen)."""
    window: int | None = Field(default=None, ge=1, lt=2**32)
    """``WINDOWID`` of the TUI's terminal, where the terminal sets it, to raise that window."""


ShowHandler = Callable[[ShowRequest], Awaitable[Shown]]


def socket_path(home: Path) -> Path:
    """Where the TUI of ``home`` listens."""
    return home / SOCKET_FILE


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits ``sun_path``: the path, or via ``/proc/self/fd``.

    A deep ``HITL_HOME`` (a test's tmp dir) makes a path longer than a socket address can be;
    on Linux the directory's descriptor is a short alias for it.
    """
    if len(os.fsencode(path)) <= _PATH_LIMIT or not sys.platform.startswith("linux"):
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


async def _connect(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    with _address(path) as address:
        return await asyncio.open_unix_connection(address, limit=LINE_LIMIT)


async def ask_to_show(home: Path, request_id: str | None, *,
                      timeout: float = ASK_TIMEOUT) -> Shown | None:
    """Ask the TUI of ``home`` to show ``request_id``; None when no TUI answers."""
    path = socket_path(home)
    if not _UNIX or not path.exists():
        return None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _connect(path)
            try:
                writer.write(ShowRequest(request_id=request_id).model_dump_json().encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        return Shown.model_validate_json(line)
    except (OSError, TimeoutError, ValidationError, ValueError) as exc:
        # A crashed TUI's file refuses; a hung one times out: either way, none answers.
        log.info("no TUI answered on %s: %s", path, exc)
        return None


async def _alive(path: Path) -> bool:
    """True when something accepts on the socket at ``path``."""
    try:
        _, writer = await _connect(path)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _bind(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, private to this user from its first instant."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # bind creates the file: 0600 without a window where it is wider
    try:
        with _address(path) as address:
            sock.bind(address)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    sock.listen(8)
    return sock


class FocusServer:
    """Serves ``ShowRequest``s on ``HITL_HOME/tui.sock`` for as long as ``serve`` runs."""

    def __init__(self, home: Path, handle: ShowHandler) -> None:
        self.path = socket_path(home)
        self._handle = handle
        self._inode: int | None = None

    async def serve(self) -> None:
        """Listen until cancelled, then remove the socket; return at once if another TUI serves."""
        if not _UNIX:
            return
        if self.path.exists():
            if await _alive(self.path):
                log.info("another TUI listens on %s: this one does not", self.path)
                return
            self.path.unlink(missing_ok=True)  # left by a TUI that crashed
        try:
            sock = _bind(self.path)
        except OSError as exc:
            log.warning("cannot listen on %s: %s", self.path, exc)
            return
        self._inode = self.path.stat().st_ino
        server = await asyncio.start_unix_server(self._serve_one, sock=sock, limit=LINE_LIMIT)
        try:
            await server.serve_forever()
        finally:
            server.close()
            self._remove()

    def _remove(self) -> None:
        """Remove the socket file if it is still ours (not a newer TUI's)."""
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one line; a malformed one closes the connection."""
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                line = await reader.readline()
            ask = ShowRequest.model_validate_json(line)
            shown = await self._handle(ask)
            writer.write(shown.model_dump_json().encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError, ValidationError, ValueError) as exc:
            log.info("focus request refused: %s", exc)
        except Exception:
            # A connection handler is a loop boundary: a failure to show must not go unseen.
            log.exception("focus request failed")
        finally:
            writer.close()
