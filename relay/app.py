"""Building and running the relay: ``make_app`` wires the parts, ``RunningRelay`` serves them."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from aiohttp import web

from hitl_desk.models import MAX_BODY_BYTES
from hitl_desk.settings import Settings
from relay import api, e2ee, events
from relay.auth import Auth
from relay.broker import Broker
from relay.bus import Bus
from relay.context import AUTH, BROKER, BUS, CONFIG, STORE, RelayConfig
from relay.departure import HANGUPS, HangupWatch
from relay.http import METRICS, error_middleware, host_guard
from relay.mcp import setup_mcp
from relay.metrics import Metrics
from relay.openapi import RouteTable
from relay.store import Store

log = logging.getLogger(__name__)


def make_app(config: RelayConfig) -> web.Application:
    """The relay as an aiohttp application; the store opens when the app starts."""
    app = web.Application(
        middlewares=[error_middleware, host_guard(config.allowed_hosts)],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[HANGUPS] = HangupWatch(config.hangup_poll)
    app.on_cleanup.append(app[HANGUPS].close)
    table = RouteTable(api.routes, e2ee.routes, events.routes)
    table.add_to(app)
    table.serve_document(app, "/api/v1/openapi.json")
    events.setup_events(app)
    app.cleanup_ctx.append(_lifecycle)
    setup_mcp(app)  # after _lifecycle: its session manager starts once the broker exists
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = Settings(home=config.home)
    store = Store(config.database or settings.database_path)
    await store.open()
    auth = Auth(store, app[METRICS], Auth.load_secret(settings))
    auth.ensure_owner_token(settings)
    bus = Bus(store)
    broker = Broker(store, bus, app[METRICS], max_timeout=config.max_timeout, max_pending=config.max_pending,
                    leave_grace=config.leave_grace)
    app[STORE], app[AUTH], app[BUS], app[BROKER] = store, auth, bus, broker
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()
        await store.close()


class RunningRelay:
    """A relay serving on a TCP port until the context exits (port 0 picks a free one)."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.app = make_app(config)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        self.port = config.port

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> RunningRelay:
        """Open the store and start listening."""
        await self._runner.setup()
        # A burst of agents (1,000 MCP calls at once) overflows the default backlog of 128.
        site = web.TCPSite(self._runner, self.config.host, self.config.port, backlog=4096)
        await site.start()
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
    async with RunningRelay(RelayConfig(home=settings.home, host=host, port=port)) as relay:
        yield relay.url
