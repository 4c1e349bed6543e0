"""What every section screen shares: the top bar, the footer, the desk signal, palette commands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError
from tui.desk import DeskApp
from tui.messages import DeskMessage, DirectoryChanged
from tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from hitl_desk.reading import RequestReader
    from tui.link import DeskLink
    from tui.state import DeskState


class DeskScreen(Screen[None]):
    """A screen that shows desk state and follows the link's messages while it is mounted."""

    SECTION = "queue"
    """The section the top bar highlights."""

    @property
    def desk(self) -> DeskApp:
        """The app, typed as the desk interface (not the app module, which imports the screens)."""
        return cast(DeskApp, self.app)

    @property
    def state(self) -> DeskState:
        """The shared desk state."""
        return self.desk.state

    @property
    def link(self) -> DeskLink:
        """The relay link."""
        return self.desk.link

    @property
    def reader(self) -> RequestReader:
        """Shows requests as this approver can read them (encrypted ones decrypted)."""
        return self.desk.link.reader

    def compose_bars(self) -> ComposeResult:
        """The top bar and the footer (yield them from ``compose``)."""
        yield TopBar(self.state, self.SECTION, self.link.address)
        yield Footer()

    def on_mount(self) -> None:
        """Follow the desk signal for as long as the screen lives."""
        self.desk.desk_signal.subscribe(self, self._on_desk)

    def _on_desk(self, message: DeskMessage) -> None:
        self.query_one(TopBar).refresh()
        self.on_desk(message)

    def on_desk(self, message: DeskMessage) -> None:
        """React to a change from the relay (override)."""

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Command palette entries for this screen's actions (override)."""
        return ()

    def report(self, error: HitlError, doing: str) -> None:
        """Show a failed action as an error toast instead of swallowing it."""
        self.notify(f"{doing} failed: {visible_line(error.message)}", severity="error", timeout=6, markup=False)


class DirectoryScreen(DeskScreen):
    """A table of the desk's directory (agents or keys), fetched on mount and on ``r``."""

    WHAT = "the directory"
    """What a failed reload is reported as loading."""

    def on_mount(self) -> None:
        """Show what is known, then fetch."""
        self.fill()
        self.query_one(DataTable).focus()
        if self.link.client is not None:
            self.action_reload()

    @work(group="directory", exclusive=True)
    async def action_reload(self) -> None:
        """Fetch agents and keys."""
        try:
            await self.link.load_directory()
        except HitlError as exc:
            self.report(exc, f"Loading {self.WHAT}")

    def on_desk(self, message: DeskMessage) -> None:
        """Agents or keys changed."""
        if isinstance(message, DirectoryChanged):
            self.fill()

    def fill(self) -> None:
        """Rebuild the table from the desk state."""
        raise NotImplementedError
