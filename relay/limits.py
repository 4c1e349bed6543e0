"""Keeping the relay serving under hostile load: open files, a connection cap, timeouts, a quiet log.

An idle TCP connection costs the relay one file descriptor and nothing else, so a few thousand of
them used to exhaust the usual 1,024-descriptor limit: every accept then failed, and asyncio
logged each failure with its traceback, thousands a second.  Here:

- ``raise_open_file_limit`` lifts the soft limit to the hard one at start.
- ``ConnectionGate`` counts connections.  Past its soft cap a new connection first closes the
  connection that has been idle longest, if for a second or more (one between requests, or that
  never sent a request: nginx's "reusable connections"); if none has, it is admitted on
  probation, where only the owner's requests are served (an approver must always get in to
  answer what keeps the others busy) and the rest are answered 503 ``too_many_connections``.  At the hard cap, below
  the descriptor limit, a new connection is answered 503 and closed at once.
- A connection must deliver a request's headers within ``header_timeout`` of connecting or of
  its first byte (a slowloris is dropped); aiohttp's ``keepalive_timeout`` closes it after
  ``idle_timeout`` between requests.
- ``AcceptErrorFilter`` lets at most one "out of file descriptors" accept error a minute reach
  the log, with a count of those it held back.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from hitl_desk.errors import HitlError, TooManyConnectionsError
from relay.context import RelayConfig, principal_of
from relay.http import Handler, error_response

log = logging.getLogger(__name__)

FD_RESERVE = 160
"""Descriptors kept free of connections: the database and its WAL, the checkpointer, logs, pipes,
and the connections accepted in one burst before the cap closes any (see ``ACCEPT_BATCH``)."""
DEFAULT_MAX_CONNECTIONS = 4096
ACCEPT_BATCH = 32
"""Connections asyncio accepts per turn of the loop; each turn's batch is opened before the cap
sees it, so the batch is kept small (it also bounds how often a failed accept is retried)."""
LISTEN_BACKLOG = 4096
"""The kernel's queue of connections not yet accepted: a burst of 1,000 agents fits."""
IDLE_GRACE = 1.0
"""Seconds a connection must have been idle before it can be closed to make room: a client that
just connected is about to send its request."""
RETRY_AFTER = "5"
LOG_EVERY = 60.0
"""At most one line per this many seconds for each kind of load warning."""
ACCEPT_ERROR = "socket.accept() out of system resource"
UNLIMITED_TARGET = 65536
"""The soft limit asked for when the hard limit is unlimited."""


def raise_open_file_limit() -> tuple[int, str]:
    """Raise the soft open-file limit to the hard limit; returns the limit now in force and a
    line saying so (logged once the relay listens, so a start that fails prints only its error)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft one (the kernel caps descriptors anyway).
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return int(target if soft == resource.RLIM_INFINITY else soft), f"open-file limit is {soft} (the hard limit)"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # some sandboxes refuse even this
        return int(soft), f"open-file limit stays at {soft}: {exc}"
    return int(target), f"open-file limit raised from {soft} to {target}"


def default_max_connections(fd_limit: int) -> int:
    """The connection cap for a descriptor limit: well below it, never tiny."""
    return max(16, min(DEFAULT_MAX_CONNECTIONS, fd_limit - FD_RESERVE))


class Throttle:
    """Lets one event through per ``every`` seconds and counts the ones it held back."""

    def __init__(self, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._last: float | None = None
        self.held = 0

    def ready(self) -> int | None:
        """None to stay quiet; else how many events were held back since the last one let through."""
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            self.held += 1
            return None
        self._last, held, self.held = now, self.held, 0
        return held


class AcceptErrorFilter(logging.Filter):
    """On asyncio's logger: one short line per minute for failed accepts instead of thousands."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        super().__init__()
        self.throttle = Throttle(every)

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass everything but accept errors; turn the one that passes into a single line."""
        if not str(record.msg).startswith(ACCEPT_ERROR):
            return True
        held = self.throttle.ready()
        if held is None:
            return False
        error = record.exc_info[1] if record.exc_info else None
        since = f"; {held} more such failures held back in the last {int(self.throttle.every)} s" if held else ""
        record.msg = "accepting a connection failed (%s)%s"
        record.args = (error or "no resource", since)
        record.exc_info, record.exc_text = None, None
        return True


def install_accept_error_filter() -> None:
    """Quiet asyncio's accept errors for this process (once, however many relays start)."""
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, AcceptErrorFilter) for f in logger.filters):
        logger.addFilter(AcceptErrorFilter())


class _Connection(asyncio.Protocol):
    """One accepted connection: aiohttp's handler, watched for idleness and slow headers."""

    def __init__(self, gate: ConnectionGate, handler: RequestHandler, probation: bool) -> None:
        self.gate = gate
        self.handler = handler
        self.probation = probation
        self.busy = 0
        self.idle_since = 0.0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Hand the transport to aiohttp and start waiting for the first request's headers."""
        self.gate._opened(self)
        self.handler.connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        """Pass bytes on; the first byte of a request starts its header clock."""
        if not self.busy and self._header_timer is None:
            self._start_header_timer()
        self.handler.data_received(data)

    def eof_received(self) -> None:
        """As aiohttp does (it returns nothing, so the transport closes itself)."""
        self.handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection, then let aiohttp clean up."""
        self._stop_header_timer()
        self.gate._closed(self)
        self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        """Flow control, as aiohttp does it."""
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        """Flow control, as aiohttp does it."""
        self.handler.resume_writing()

    def begin(self) -> None:
        """A request's headers are in and its handler runs."""
        self.busy += 1
        self._stop_header_timer()
        self.gate._idle.pop(self, None)

    def end(self) -> None:
        """A request is answered; with none left running the connection is idle (newest first)."""
        self.busy -= 1
        if not self.busy and self in self.gate._open:
            self.gate._set_idle(self)

    def close(self) -> None:
        """Close it now, whatever aiohttp was waiting for."""
        self._stop_header_timer()
        self.handler.force_close()

    def _start_header_timer(self) -> None:
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(self.gate.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.busy:
            log.debug("closing a connection that sent no complete request headers in %.0f s",
                      self.gate.header_timeout)
            self.close()


class _Refusal(asyncio.Protocol):
    """Answers 503 and hangs up, without reading: the relay has no room for another connection."""

    def __init__(self, response: bytes) -> None:
        self._response = response

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Write the refusal and close."""
        assert isinstance(transport, asyncio.Transport)
        transport.write(self._response)
        transport.close()


def _refusal_bytes() -> bytes:
    error = TooManyConnectionsError()
    body = error_response(error).text or ""
    data = body.encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nRetry-After: {RETRY_AFTER}\r\nConnection: close\r\n\r\n")
    return head.encode() + data


class ConnectionGate:
    """Counts the relay's connections and keeps them under a cap (see the module docstring)."""

    def __init__(self, config: RelayConfig) -> None:
        self.configured = config.max_connections
        self.header_timeout = config.header_timeout
        self.limit = config.max_connections or DEFAULT_MAX_CONNECTIONS
        self._open: set[_Connection] = set()
        self._idle: dict[_Connection, None] = {}  # insertion order: longest idle first
        self._by_handler: dict[RequestHandler, _Connection] = {}
        self._refusal = _refusal_bytes()
        self._evictions = Throttle()
        self._refusals = Throttle()

    @property
    def soft_limit(self) -> int:
        """Past this many connections, new ones displace idle ones or are owner-only."""
        return self.limit - max(4, self.limit // 8)

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return len(self._open)

    @property
    def idle_connections(self) -> int:
        """Connections open now with no request being served."""
        return len(self._idle)

    def fit_to(self, fd_limit: int) -> None:
        """Set the cap from the descriptor limit, unless one was configured."""
        self.limit = self.configured or default_max_connections(fd_limit)
        if self.limit > fd_limit - FD_RESERVE:
            log.warning("max connections %d leaves fewer than %d of %d file descriptors free",
                        self.limit, FD_RESERVE, fd_limit)

    def protocol_factory(self, server: Server) -> Callable[[], asyncio.Protocol]:
        """The factory asyncio calls for each accepted connection."""

        def accept() -> asyncio.Protocol:
            probation = False
            if len(self._open) >= self.soft_limit and not self._evict_idle():
                if len(self._open) >= self.limit:
                    self._note(self._refusals, "refused %d connections at the limit of %d")
                    return _Refusal(self._refusal)
                probation = True
            connection = _Connection(self, server(), probation)
            self._open.add(connection)  # counted now: asyncio opens a whole batch before connection_made
            return connection

        return accept

    def _set_idle(self, connection: _Connection) -> None:
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle[connection] = None

    def _evict_idle(self) -> bool:
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = next(iter(self._idle))
            if now - connection.idle_since < IDLE_GRACE:  # the longest idle is the oldest: none qualifies
                return False
            del self._idle[connection]
            if connection in self._open:
                self._open.discard(connection)
                connection.close()
                self._note(self._evictions, "closed %d idle connections to make room (limit %d)")
                return True
        return False

    def _note(self, throttle: Throttle, message: str) -> None:
        held = throttle.ready()
        if held is not None:
            log.warning(message, held + 1, self.limit)

    def _opened(self, connection: _Connection) -> None:
        self._by_handler[connection.handler] = connection
        self._set_idle(connection)

    def _closed(self, connection: _Connection) -> None:
        self._open.discard(connection)
        self._idle.pop(connection, None)
        self._by_handler.pop(connection.handler, None)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Mark the connection busy while it is served; on probation serve the owner only."""
        connection = self._by_handler.get(request.protocol)
        if connection is None:  # served by another site (aiohttp's test server)
            return await handler(request)
        connection.begin()
        try:
            if connection.probation and not await self._may_pass(request, connection):
                response = error_response(TooManyConnectionsError())
                response.headers["Retry-After"] = RETRY_AFTER
                response.force_close()
                return response
            return await handler(request)
        finally:
            connection.end()

    async def _may_pass(self, request: web.Request, connection: _Connection) -> bool:
        if len(self._open) < self.soft_limit:
            connection.probation = False
            return True
        try:
            return (await principal_of(request)).kind == "owner"
        except HitlError:  # no credential or a bad one: no room for it either
            return False


GATE: web.AppKey[ConnectionGate] = web.AppKey("connection_gate", ConnectionGate)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass the app's ``ConnectionGate``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner)
        self._gate = runner.app[GATE]
        self._host = host
        self._port = port
        self._ssl = ssl_context

    @property
    def name(self) -> str:
        """The site's URL."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._ssl else 'http'}://{host}:{self._port}"

    async def start(self) -> None:
        """Raise the descriptor limit, fit the cap to it, and listen."""
        await super().start()
        fd_limit, said = raise_open_file_limit()
        self._gate.fit_to(fd_limit)
        install_accept_error_filter()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        listening = await loop.create_server(self._gate.protocol_factory(server), self._host, self._port,
                                             backlog=ACCEPT_BATCH, ssl=self._ssl)
        self._server = listening
        # asyncio uses one number for the kernel's queue and its accept batch; lengthen the queue.
        for sock in listening.sockets:
            dup = sock.dup()
            try:
                dup.listen(LISTEN_BACKLOG)
            finally:
                dup.close()
        log.info("%s", said)
        log.info("serving at most %d connections (the owner alone past %d)", self._gate.limit,
                 self._gate.soft_limit)

    def __repr__(self) -> str:
        return f"<GuardedSite {self.name}>"


def handler_options(config: RelayConfig) -> dict[str, Any]:
    """aiohttp request-handler options: close a connection idle between requests."""
    return {"keepalive_timeout": config.idle_timeout}
