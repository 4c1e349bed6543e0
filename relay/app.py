"""Building and running the relay: ``make_app`` wires the parts, ``RunningRelay`` serves them."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from types import TracebackType

from aiohttp import web

from hitl_desk.errors import RelayStartError
from hitl_desk.models import MAX_BODY_BYTES
from hitl_desk.settings import Settings
from relay import api, events, hooks, rule_routes, sealed_routes
from relay.auth import Auth
from relay.broker import Broker
from relay.bus import Bus
from relay.bus.local import InProcessBus
from relay.context import AUTH, BROKER, BUS, CONFIG, RelayConfig
from relay.departure import HANGUPS, HangupWatch
from relay.devices import owner_routes, setup_devices
from relay.http import METRICS, error_middleware, host_guard
from relay.lan import setup_lan, switch_routes
from relay.limits import GATE, ConnectionGate, GuardedSite, handler_options
from relay.mcp import setup_mcp
from relay.metrics import Metrics
from relay.oauth import routes as oauth_routes
from relay.oauth import setup_oauth
from relay.openapi import RouteTable
from relay.push.escalation import setup_push
from relay.push.target import target_from
from relay.startup import prepare_home
from relay.store.sqlite import SqliteStore

log = logging.getLogger(__name__)


SHARED_BUS: web.AppKey[Bus | None] = web.AppKey("shared_bus")
"""A bus handed in from outside (relays in one process sharing one bus); None: a bus of its own."""


def make_app(config: RelayConfig, *, bus: Bus | None = None) -> web.Application:
    """The relay as an aiohttp application; the store opens when the app starts.

    ``bus``: share one with other relay apps of this process (their store must be shared too);
    by default each relay has an in-process bus of its own.
    """
    gate = ConnectionGate(config)
    app = web.Application(
        middlewares=[error_middleware, gate.middleware, host_guard(config.allowed_hosts)],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONFIG], app[GATE], app[SHARED_BUS] = config, gate, bus
    app[METRICS] = Metrics()
    app[HANGUPS] = HangupWatch(config.hangup_poll)
    app.on_cleanup.append(app[HANGUPS].close)
    table = RouteTable(api.routes, sealed_routes.routes, events.routes, rule_routes.routes, hooks.routes, oauth_routes,
                       owner_routes, switch_routes)
    hooks.setup_hooks(app)
    table.add_to(app)
    table.serve_document(app, "/api/v1/openapi.json")
    events.setup_events(app)
    app.cleanup_ctx.append(_lifecycle)
    setup_oauth(app)  # after _lifecycle: it needs the open store
    setup_devices(app)  # after _lifecycle (its registry reads the store), before the LAN listener copies it
    setup_mcp(app)  # after _lifecycle: its session manager starts once the broker exists
    setup_lan(app)  # after both: the LAN listener shares the broker, and stops before it
    setup_push(app)  # after the LAN: its pushes link to the LAN listener
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = Settings(home=config.home)
    database = config.database or settings.database_path
    prepare_home(config.home, database)
    secret = Auth.load_secret(settings)
    store = SqliteStore(database)
    await store.open()
    try:
        auth = Auth(store, app[METRICS], secret)
        await auth.ensure_owner_token(settings)
        bus = app[SHARED_BUS] or InProcessBus(store)
        broker = Broker(store, bus, app[METRICS], max_timeout=config.max_timeout,
                        max_pending=config.max_pending, leave_grace=config.leave_grace,
                        timer_lease=config.timer_lease)
        app[AUTH], app[BUS], app[BROKER] = auth, bus, broker
        await broker.start()
    except BaseException:
        await store.close()  # its reader thread would otherwise keep the process alive
        raise
    try:
        yield
    finally:
        await broker.stop()
        await store.close()


class RunningRelay:
    """A relay serving on a TCP port until the context exits (port 0 picks a free one)."""

    def __init__(self, config: RelayConfig, *, bus: Bus | None = None) -> None:
        self.config = config
        self.app = make_app(config, bus=bus)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0, **handler_options(config))
        self.port = config.port

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> RunningRelay:
        """Open the store and start listening; any failure is one ``RelayStartError`` line."""
        try:
            await self._runner.setup()
        except BaseException as exc:
            await _quietly(self.app.cleanup())  # the parts that did start (aiohttp leaves them running)
            raise _start_error(exc) from None
        site = GuardedSite(self._runner, self.config.host, self.config.port)  # connection cap: relay.limits
        try:
            await site.start()
        except BaseException as exc:
            await _quietly(self._runner.cleanup())
            raise _start_error(exc, f"cannot listen on port {self.config.port} of {self.config.host}") from None
        self.port = int(self._runner.addresses[0][1])  # the bound port, also when 0 was asked
        log.info("relay listening on %s (data in %s)", self.url, self.config.home)
        return self

    async def stop(self) -> None:
        """Stop listening and close the store."""
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningRelay:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


async def _quietly(cleanup: Awaitable[None]) -> None:
    """Undo a failed start without letting a second error hide the first."""
    try:
        await cleanup
    except Exception:  # the start failure is what the user needs to see
        log.debug("cleanup after a failed start failed", exc_info=True)


def _start_error(exc: BaseException, where: str = "the relay could not start") -> BaseException:
    """One line for a failed start: what went wrong and, when known, how to recover."""
    if isinstance(exc, RelayStartError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return RelayStartError(f"{where}: the port is in use (is a relay already running? hitl-desk pending "
                               "talks to it); stop it or choose another port with --port or HITL_SERVER_URL.")
    log.debug("relay start failed", exc_info=exc)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return RelayStartError(f"{where}: {reason}")


async def serve_forever(config: RelayConfig) -> None:
    """Run the relay until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with RunningRelay(config) as relay:
        print(f"hitl-desk relay listening on {relay.url}", flush=True)
        await stop.wait()


@asynccontextmanager
async def embedded(settings: Settings) -> AsyncIterator[str]:
    """Serve a relay on this event loop at ``settings.server_url`` (the launcher's entry point)."""
    host, port = settings.listen_address
    lan = settings.lan_choice()  # the TUI's LAN switch
    async with RunningRelay(RelayConfig(home=settings.home, host=host, port=port, lan=lan.enabled,
                                        lan_addresses=lan.addresses, ntfy=target_from(None))) as relay:
        yield relay.url
