"""The tray app: a view over the approver core that drives the icon and the notifications.

``hitl_desk.approver.Approver`` follows the relay, hands over the merged snapshot of every
(re)connect (so the badge is right again after the relay went away), reads encrypted requests
with the desk key in ``settings.home`` and answers them sealed. The icon runs in its own
thread; its menu actions come back to the event loop with ``call_soon_threadsafe``. "Open…"
asks the TUI running for that home to show the request (``hitl_desk.focus``) and opens a
terminal only when none answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dbus_fast.errors import DBusError

from hitl_desk.approver import Approver, Snapshot
from hitl_desk.client import RelayClient, StreamState
from hitl_desk.errors import (
    HitlError,
    RelayUnavailableError,
    RequestClosedError,
    RequestNotFoundError,
)
from hitl_desk.focus import Shown, ask_to_show
from hitl_desk.models import Event, HitlRequest
from hitl_desk.settings import Settings
from tray.notifier import MAX_CHOICE_BUTTONS, NotificationServerError, RequestNotifier
from tray.state import APP_TITLE, Action, TrayState
from tray.terminal import NoTerminalError, TuiLauncher, raise_window
from tray.view import IconFactory, IconView, View, default_icon

log = logging.getLogger(__name__)

BURST_NOTIFICATIONS = 5
"""After a (re)connect only the newest few new requests pop up; the badge counts them all."""

RETRY_MAX = 2.0
"""Longest pause between attempts to reconnect to the relay."""

STOP_GRACE = 2.0
"""Seconds ``stop`` waits for notifications being shown and answers being sent."""

OFFLINE_NOTE = "(not connected to the relay)"

LAUNCH_GRACE = 8.0
"""Seconds after opening a terminal during which a click waits for that TUI to listen rather
than open another terminal (a TUI takes a moment to start)."""
LAUNCH_POLL = 0.1


class TrayUnavailableError(RuntimeError):
    """The tray icon could not be shown (no display, no usable pystray backend)."""


class TrayApp:
    """Wires ``TrayState``, the icon and ``RequestNotifier`` to a relay, one method per action."""

    def __init__(
        self,
        client: RelayClient,
        *,
        make_icon: IconFactory | None = default_icon,
        notifications: bool = True,
        launcher: TuiLauncher | None = None,
        max_buttons: int = MAX_CHOICE_BUTTONS,
        retry_max: float = RETRY_MAX,
        settings: Settings | None = None,
    ) -> None:
        self.client = client
        self.approver = Approver(client, settings, retry_max=retry_max)
        self.reader = self.approver.reader
        """Opens encrypted requests with the desk key in ``settings.home`` (none: no key)."""
        self.state = TrayState(read=self.reader.view, pairing=settings is not None)
        self.settings = settings
        self.launcher = launcher or TuiLauncher(client.base_url)
        self.home = settings.home if settings is not None else None
        """Where an open TUI listens for "show this request" (``hitl_desk.focus``)."""
        self._launched_at: float | None = None
        self.notifier = (
            RequestNotifier(self.answer, self.open_request, max_buttons=max_buttons,
                            read=self.reader.view)
            if notifications else None
        )
        self.icon: IconView | None = None
        self.connected = False
        self.connection_error: str | None = None
        """Why the last connection attempt failed or dropped (None while connected)."""
        self.synced = self.approver.synced
        """Set once the pending snapshot of the current connection is loaded."""
        self.view = View(0, "", (), False)
        """What the icon was last told to show."""
        self.failure: Exception | None = None
        """Why the app gave up (a rejected credential, a bug), if it did."""
        self._make_icon = make_icon
        self._loop: asyncio.AbstractEventLoop | None = None
        self._follow_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._notify_lock = asyncio.Lock()
        self._quit = asyncio.Event()
        self._icon_thread = ThreadPoolExecutor(1, thread_name_prefix="tray-icon-update")
        self._notifier_broken = False
        self._stopped = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Show the icon, then follow the relay's events (returns at once; reconnects forever)."""
        self._loop = asyncio.get_running_loop()
        self._push_view()
        if self._make_icon is not None:
            await self._start_icon(self._make_icon)
        self._follow_task = asyncio.create_task(self._follow(), name="tray-follow")

    async def _start_icon(self, make_icon: IconFactory) -> None:
        """Build and show the icon; raise ``TrayUnavailableError`` if that cannot be done."""
        assert self._loop is not None
        try:
            self.icon = icon = make_icon(self._on_menu_action)  # stop() removes it if start fails
            icon.update(self.view.badge, self.view.tooltip, self.view.menu, dnd=self.view.dnd)
            await self._loop.run_in_executor(self._icon_thread, icon.start)
        except Exception as exc:
            # pystray raises whatever its backend's import or X connection raises.
            log.exception("the tray icon could not be shown")
            raise TrayUnavailableError(f"the tray icon could not be shown: {exc}") from exc

    async def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Start, run until ``quit`` (or until the relay rejects the credential), then stop.

        ``on_started`` is called once the icon is up and the relay is being followed.
        """
        try:
            await self.start()
            if on_started is not None:
                on_started()
            await self._quit.wait()
        finally:
            await self.stop()

    def quit(self) -> None:
        """Ask ``run`` to stop the app."""
        self._quit.set()

    async def stop(self) -> None:
        """Stop following, close the notifications and remove the icon (once)."""
        if self._stopped:
            return
        self._stopped = True
        following, self._follow_task = self._follow_task, None
        if following is not None:  # the core cancels the snapshot it was loading
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        if self._tasks:
            # A notification half shown would stay on screen with nobody behind its buttons,
            # and an answer half sent might be lost: give them a moment to finish.
            _, late = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.notifier is not None:
            await self._quietly(self.notifier.withdraw_all())
            await self.notifier.aclose()
        icon, self.icon = self.icon, None
        loop = asyncio.get_running_loop()
        if icon is not None:
            await loop.run_in_executor(self._icon_thread, icon.stop)
        await loop.run_in_executor(None, self._icon_thread.shutdown)

    # -- following the relay ------------------------------------------------------------------

    async def _follow(self) -> None:
        """Follow the relay through the core; it reconnects by itself until the credential fails."""
        try:
            await self.approver.follow(self)
        except HitlError as exc:  # 401/403: retrying would not help
            log.error("the relay rejected the tray: %s", exc.message)
            self.failure = exc
            self._quit.set()
        except Exception as exc:
            # The loop boundary of the event stream: a tray that silently stopped following
            # would show a stale badge forever, so stop the app and say why.
            log.exception("the tray stopped following the relay")
            self.failure = exc
            self._quit.set()

    def on_event(self, event: Event) -> None:
        """Update the badge, then show or withdraw the notification the event concerns."""
        if not self.state.apply(event):
            return
        if event.type != "request.created":
            self.reader.forget(event.request.id)
        self._push_view()
        fresh = [event.request] if event.type == "request.created" else []
        # In a task of its own, so a slow notification server never holds up the badge; the
        # lock in _reconcile keeps these in event order.
        self._track(self._reconcile(fresh))

    def on_state(self, state: StreamState) -> None:
        """The stream (re)connected or dropped: say so (the core reloads the snapshot)."""
        self.connected = state.connected
        self.connection_error = state.error
        if not state.connected:
            log.info("relay connection lost: %s", state.error)
        self._push_view()

    async def on_snapshot(self, snapshot: Snapshot) -> None:
        """Count the merged snapshot, pop up what is new (the newest few)."""
        known = {r.id for r in self.state.pending}
        self.state.load(snapshot.pending, last_seq=snapshot.last_seq)
        self._push_view()
        fresh = [r for r in self.state.pending if r.id not in known]
        await self._reconcile(fresh[-BURST_NOTIFICATIONS:])

    async def _reconcile(self, fresh: Iterable[HitlRequest]) -> None:
        """Withdraw notifications of requests no longer pending; show the ``fresh`` ones."""
        notifier = self.notifier
        if notifier is None:
            return
        async with self._notify_lock:
            waiting = {r.id for r in self.state.pending}
            for request_id in notifier.shown - waiting:
                await self._quietly(notifier.withdraw(request_id))
            for request in fresh:
                if request.kind == "notification" or request.id in waiting:
                    await self._quietly(notifier.show(request))

    # -- what the icon shows ------------------------------------------------------------------

    def _push_view(self) -> None:
        """Hand the current badge, tooltip and menu to the icon if they changed."""
        tooltip = self.state.tooltip()
        if not self.connected:
            tooltip += "\n" + OFFLINE_NOTE
        view = View(self.state.badge, tooltip, self.state.menu_model(), self.state.dnd)
        if view == self.view:
            return
        self.view = view
        if self.icon is not None:
            # One worker thread keeps the updates in order; pystray calls can block briefly.
            done = self._icon_thread.submit(
                self.icon.update, view.badge, view.tooltip, view.menu, dnd=view.dnd
            )
            done.add_done_callback(_log_icon_failure)

    # -- actions ------------------------------------------------------------------------------

    def _on_menu_action(self, action: Action) -> None:
        """Menu callback from the icon's thread: run the action on the event loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._dispatch, action)

    def _dispatch(self, action: Action) -> None:
        """Start the handler of a menu action (on the event loop)."""
        self._track(self.handle_action(action))

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` as a task the app keeps until it is done and cancels on stop."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task, logging what it raised."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("tray task failed", exc_info=task.exception())

    async def handle_action(self, action: Action) -> None:
        """Carry out a menu action."""
        if action[0] == "answer" and len(action) == 3:
            await self.answer(action[1], action[2])
        elif action[0] == "open" and len(action) == 2:
            await self.open_request(action[1])
        elif action[0] == "open_tui":
            await self.open_tui()
        elif action[0] == "toggle_dnd":
            self.toggle_dnd()
        elif action[0] == "quit":
            self.quit()
        elif action[0] == "pair" and self.settings is not None and self.notifier is not None:
            from tray.pairing import pair_from_tray  # segno and the handshake load only when pairing

            await pair_from_tray(self.client, self.settings, self.notifier)

    async def answer(self, request_id: str, text: str) -> HitlRequest | None:
        """Answer a request on the relay (sealed if encrypted); one closed meanwhile is no error."""
        try:
            # Sealing needs the request as the relay sent it: ask for one not known here.
            request = self.state.get(request_id) or await self.client.get_request(request_id)
            return await self.approver.answer(request, text)
        except (RequestClosedError, RequestNotFoundError) as exc:
            # Someone (or the clock) was first: its close event withdraws the notification.
            log.info("request %s not answered: %s", request_id, exc.message)
            await self._message("Not sent", f"{exc.message} Your answer was not needed.")
        except RelayUnavailableError:
            log.warning("relay unavailable; answer to %s not sent", request_id)
            await self._message("Answer not sent", "The relay is not reachable. Try again.")
        except HitlError as exc:
            log.warning("answer to %s failed: %s", request_id, exc.message)
            await self._message("Answer not sent", exc.message)
        return None

    async def open_request(self, request_id: str) -> list[str] | None:
        """Show a request where free text can be typed: in the open TUI, or a new one on it."""
        return await self._bring_tui(request_id)

    async def open_tui(self) -> list[str] | None:
        """Bring the open TUI forward, or open one; return the command started, if one was."""
        return await self._bring_tui(None)

    async def _bring_tui(self, request_id: str | None) -> list[str] | None:
        """Ask a running TUI to show ``request_id``; open a terminal only when none answers."""
        loop = asyncio.get_running_loop()
        shown = await self._ask_tui(request_id)
        if shown is not None:
            if shown.window is not None:
                await loop.run_in_executor(None, raise_window, shown.window)
            return None
        try:
            command = self.launcher.launch(request_id)
        except NoTerminalError as exc:
            await self._message("Cannot open the TUI", str(exc))
        except OSError as exc:
            log.warning("could not start the terminal: %s", exc)
            await self._message("Cannot open the TUI", f"{exc}. Run `hitl-desk tui` instead.")
        else:
            self._launched_at = loop.time()
            return command
        return None

    async def _ask_tui(self, request_id: str | None) -> Shown | None:
        """The answer of the TUI listening in ``home``; None when no TUI runs there."""
        if self.home is None:
            return None
        loop = asyncio.get_running_loop()
        shown = await ask_to_show(self.home, request_id)
        # A TUI opened a moment ago may not listen yet: wait for it instead of opening another.
        while shown is None and self._launched_at is not None and loop.time() < self._launched_at + LAUNCH_GRACE:
            await asyncio.sleep(LAUNCH_POLL)
            shown = await ask_to_show(self.home, request_id)
        return shown

    def toggle_dnd(self) -> bool:
        """Pause or resume notifications (the badge keeps counting); return the new state."""
        dnd = self.state.toggle_dnd()
        if self.notifier is not None:
            self.notifier.dnd = dnd
        self._push_view()
        return dnd

    # -- notifications ------------------------------------------------------------------------

    async def _message(self, title: str, body: str) -> None:
        """Tell the user something through a plain notification (logged where none shows)."""
        if self.notifier is None:
            log.warning("%s: %s", title, body)
            return
        await self._quietly(self.notifier.message(f"{APP_TITLE}: {title}", body))

    async def _quietly(self, call: Coroutine[Any, Any, Any]) -> None:
        """Await a notifier call; without a notification server, log once and go on."""
        try:
            await call
            self._notifier_broken = False
        except (NotificationServerError, DBusError, OSError) as exc:
            level = logging.DEBUG if self._notifier_broken else logging.WARNING
            log.log(level, "desktop notification failed: %s", exc)
            self._notifier_broken = True


def _log_icon_failure(done: Future[None]) -> None:
    """Log an icon update that raised in the icon's worker thread."""
    if not done.cancelled() and done.exception() is not None:
        log.error("tray icon update failed", exc_info=done.exception())
