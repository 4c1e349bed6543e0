"""The Textual approver: sections as modes, the relay link as a worker, news as a signal.

Screens and widgets live in ``tui.screens`` and ``tui.widgets``; this module only wires them:
it owns the ``DeskState``, starts the ``DeskLink``, republishes its messages on ``desk_signal``
and rings the bell for new requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.signal import Signal
from textual.widgets import Markdown

from hitl_desk.client import RelayClient
from hitl_desk.display import visible_line
from hitl_desk.settings import Settings
from tui.clock import Clock, system_clock
from tui.desk import DeskApp
from tui.focus import focus_server, show_request
from tui.link import DeskLink
from tui.messages import DeskMessage, KeyCreated, QueueChanged, RequestClosed
from tui.reader import line
from tui.screens.agents import AgentsScreen
from tui.screens.base import DeskScreen
from tui.screens.feed import FeedScreen
from tui.screens.help import HelpModal
from tui.screens.history import HistoryScreen
from tui.screens.keys import KeysScreen
from tui.screens.modals import GuideModal, KeyCreatedModal
from tui.screens.queue import QueueScreen
from tui.screens.request import RequestScreen, describe_closing
from tui.state import DeskState
from tui.widgets.top_bar import SECTIONS


class HitlDeskApp(DeskApp):
    """Answer your agents' questions from the terminal."""

    CSS_PATH = "desk.tcss"
    TITLE = "hitl-desk"
    MODES: ClassVar[dict[str, type[Screen[None]]]] = {  # type: ignore[assignment]
        "queue": QueueScreen, "feed": FeedScreen, "history": HistoryScreen,
        "agents": AgentsScreen, "keys": KeysScreen,
    }
    DEFAULT_MODE = "queue"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(label[0].lower(), f"section('{mode}')", label, show=False) for mode, label in SECTIONS),
        Binding("question_mark", "help", "Help"), Binding("f1", "help", "Help", show=False),
    ]

    def __init__(self, client: RelayClient | None, *, url: str | None = None, clock: Clock = system_clock,
                 state: DeskState | None = None, started_here: bool = False,
                 settings: Settings | None = None, focus_home: Path | None = None,
                 request_id: str | None = None) -> None:
        """``settings``: the home holding the desk key (made there on first run); None reads no
        encrypted request.  ``focus_home``: listen there for the tray's "show this request"
        (``tui.focus``).  ``request_id``: open that request once the queue is loaded."""
        super().__init__()
        self.clock = clock
        self.state = state or DeskState()
        self.link = DeskLink(client, self.state, self.post_message, url, settings)
        self.started_here = started_here
        self.desk_signal: Signal[DeskMessage] = Signal(self, "desk")
        self.focus_home = focus_home
        self.wanted_request = request_id

    def on_mount(self) -> None:
        """Start following the relay."""
        if self.link.client is not None:
            self.run_worker(self.link.run(), name="relay-link", group="link", exclusive=True)
        if self.focus_home is not None:
            self.run_worker(focus_server(self, self.focus_home).serve(), name="focus", group="focus",
                            exit_on_error=False)
        if self.started_here:
            self.notify(f"Started a relay at {self.link.url}; it stops when you quit.", timeout=6, markup=False)

    @on(DeskMessage)
    def _desk_news(self, message: DeskMessage) -> None:
        if isinstance(message, QueueChanged):
            self._announce()
            if self.wanted_request is not None and self.state.synced:
                wanted, self.wanted_request = self.wanted_request, None
                show_request(self, wanted)
        elif isinstance(message, RequestClosed) and message.elsewhere and not self._showing(message.request.id):
            self.notify(describe_closing(self.link.reader.view(message.request)), timeout=6, markup=False)
        elif isinstance(message, KeyCreated):
            self.push_screen(KeyCreatedModal(message.key))
        self.desk_signal.publish(message)

    @on(Markdown.LinkClicked)
    def _link_clicked(self, event: Markdown.LinkClicked) -> None:
        """Prompts are agent text: a link in one is shown, escaped, and never followed."""
        self.notify(visible_line(event.href), title="Link not opened (it came from an agent)", markup=False,
                    timeout=10)

    def _showing(self, request_id: str) -> bool:
        return any(isinstance(s, RequestScreen) and s.request_id == request_id for s in self.screen_stack)

    def _announce(self) -> None:
        arrivals = self.state.take_announcements()
        if not arrivals:
            return
        self.bell()
        if len(arrivals) == 1:
            request = arrivals[0]
            self.notify(line(self.link.reader.view(request))[:80], title=f"{visible_line(request.agent_name)} asks",
                        markup=False)
        else:
            self.notify(f"{len(arrivals)} new requests", title="New requests")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Section keys wait while a dialog is open."""
        return not (action == "section" and isinstance(self.screen, ModalScreen))

    def action_section(self, mode: str) -> None:
        """Show a section (queue, feed, history, agents, keys)."""
        if mode != self.current_mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        """Show the keys that work on the current screen (read from its active bindings)."""
        if not isinstance(self.screen, HelpModal):
            self.push_screen(HelpModal(self.screen))

    def action_guide(self) -> None:
        """Explain how to connect an agent."""
        self.push_screen(GuideModal(self.link.url))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Palette entries: Textual's, the sections, and the current screen's actions."""
        yield from super().get_system_commands(screen)
        for mode, label in SECTIONS:
            yield SystemCommand(f"Go to {label}", f"Open the {label.lower()} section ({label[0].lower()})",
                                lambda m=mode: self.action_section(m))
        yield SystemCommand("How to connect an agent", "Commands that give an agent a key and config",
                            self.action_guide)
        yield SystemCommand("Keys", "Every key that works here (? or F1)", self.action_help)
        if isinstance(screen, DeskScreen):
            yield from screen.palette_commands()
