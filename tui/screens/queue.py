"""The queue: every pending request, newest first, with a live countdown to its expiry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.widgets import Static

from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError
from tui.messages import DeskMessage, DirectoryChanged, OpenRequest, QueueChanged
from tui.screens.base import DeskScreen
from tui.screens.modals import ConfirmModal
from tui.screens.request import RequestScreen
from tui.widgets.request_table import RequestTable, header_text
from tui.widgets.welcome import Welcome


class ColumnHeader(Static):
    """The queue's column titles, aligned with the table's rows."""

    def render(self) -> str:
        """Titles laid out at the current width."""
        return header_text(self.size.width)


class QueueScreen(DeskScreen):
    """Pending requests; Enter opens one, the newest arrive at the top with a bell."""

    SECTION = "queue"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x", "cancel_selected", "Cancel request"),
        Binding("t", "top", "Newest", show=False),
    ]

    _has_rows: bool | None = None

    def compose(self) -> ComposeResult:
        """Top bar, column header, the table (or the guide when empty), footer."""
        yield from self.compose_bars()
        yield ColumnHeader(id="queue-header")
        yield RequestTable(self.state.pending, self.state.fresh, self.desk.clock, self.reader,
                           id="queue-table")
        yield Welcome(self.link.url, self.state.first_run)

    def on_mount(self) -> None:
        """Follow the desk and show the right part."""
        self._show_table()
        self.query_one(RequestTable).focus()

    @property
    def table(self) -> RequestTable:
        """The queue table."""
        return self.query_one(RequestTable)

    def on_desk(self, message: DeskMessage) -> None:
        """Keep the table and the guide in step with the state."""
        if isinstance(message, QueueChanged):
            self.table.sync()
            self._show_table()
        elif isinstance(message, DirectoryChanged):
            self.query_one(Welcome).show_first_run(self.state.first_run)

    def on_screen_resume(self) -> None:
        """Back from another section or the request: catch up."""
        self.table.sync()
        self._show_table()

    def _show_table(self) -> None:
        has_rows = len(self.state.pending) > 0
        if has_rows == self._has_rows:
            return  # only a change between empty and not touches layout and footer
        self._has_rows = has_rows
        self.refresh_bindings()
        self.table.refresh_bindings()
        self.query_one("#queue-header").display = has_rows
        self.table.display = has_rows
        self.query_one(Welcome).display = not has_rows
        if has_rows:
            # Hiding the empty table took the focus away; without it Enter and the arrows
            # reach nothing and the footer shows only the screen's own keys.
            self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Request actions need a request under the cursor."""
        if action == "cancel_selected" and self.table.selected is None:
            return False
        return True

    @on(OpenRequest)
    def _open(self, message: OpenRequest) -> None:
        self.open_request(message.request_id)

    def open_request(self, request_id: str) -> None:
        """Show one request to answer it."""
        if request_id in self.state.pending:
            self.state.mark_seen(request_id)
            self.app.push_screen(RequestScreen(request_id))

    def action_top(self) -> None:
        """Jump to the newest request."""
        self.table.move_to(0)

    def action_cancel_selected(self) -> None:
        """Cancel the request under the cursor, after asking."""
        request = self.table.selected
        if request is None:
            return
        question = f"Cancel the request from {visible_line(request.agent_name)}? The agent gets 'cancelled'."

        def decided(yes: bool | None) -> None:
            if yes:
                self._cancel(request.id)

        self.app.push_screen(ConfirmModal(question, yes="Cancel request"), decided)

    @work(group="commands")
    async def _cancel(self, request_id: str) -> None:
        try:
            await self.link.cancel(request_id)
        except HitlError as exc:
            self.report(exc, "Cancelling")
        else:
            self.notify("Request cancelled.")

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Queue actions."""
        if self.table.selected is not None:
            yield SystemCommand("Open selected request", "Read and answer the request under the cursor",
                                self.table.action_open)
            yield SystemCommand("Cancel selected request", "Withdraw it; the agent gets 'cancelled'",
                                self.action_cancel_selected)
        yield SystemCommand("Jump to newest request", "Move the cursor to the top", self.action_top)
        yield SystemCommand("Jump to oldest request", "Move the cursor to the bottom",
                            lambda: self.table.action_edge(1))
