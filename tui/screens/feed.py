"""The notifications feed: notify messages and completion reports, newest first, with unread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Markdown

from hitl_desk.models import HitlRequest
from hitl_desk.reading import Readable
from tui.clock import format_moment
from tui.messages import DeskMessage, FeedChanged
from tui.reader import cell, label, line, markdown, markup_literal, md_body, md_literal
from tui.screens.base import DeskScreen
from tui.screens.request import RequestScreen


def feed_state(request: HitlRequest) -> str:
    """What a feed entry waits for: nothing, a reply, or how it ended."""
    if request.kind == "notification":
        return "note"
    return {"pending": "reply?", "answered": "replied"}.get(request.status, request.status)


def _label(view: Readable) -> str:
    return f" · {md_literal(label(view))}" if view.sealed else ""


class FeedScreen(DeskScreen):
    """Notifications and completion reports; Enter replies to a completion still waiting."""

    SECTION = "feed"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "reply", "Reply", priority=True),
        Binding("m", "mark_read", "Mark read"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.unread_shown = 0

    def compose(self) -> ComposeResult:
        """Top bar, the feed table, the selected message in full, footer."""
        yield from self.compose_bars()
        table: DataTable[Text] = DataTable(id="feed-table", cursor_type="row", zebra_stripes=True)
        table.add_column("", key="dot", width=1)
        table.add_column("Time", key="time", width=9)
        table.add_column("Agent", key="agent", width=14)
        table.add_column("State", key="state", width=8)
        table.add_column("Message", key="message")
        yield table
        with VerticalScroll(id="feed-detail"):
            yield Markdown(id="feed-body", open_links=False)

    def on_mount(self) -> None:
        """Fill the table (``on_screen_resume`` follows and marks it read)."""
        self.fill()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        """Opened again: show what arrived, then count it read."""
        self.mark_read()

    def on_screen_suspend(self) -> None:
        """Leaving: what was shown is read."""
        self.unread_shown = 0

    def mark_read(self) -> None:
        """Show the current feed; what was unread keeps its dot while the feed is open."""
        self.unread_shown += self.state.unread
        self.state.unread = 0
        self.fill()
        self.query_one("TopBar").refresh()

    def action_mark_read(self) -> None:
        """Clear the unread dots."""
        self.unread_shown = 0
        self.state.unread = 0
        self.fill()

    def on_desk(self, message: DeskMessage) -> None:
        """New entries arrive while the feed is open: they are read by being seen."""
        if isinstance(message, FeedChanged):
            if self.is_current:
                self.unread_shown += self.state.unread
                self.state.unread = 0
                self.fill()

    def fill(self) -> None:
        """Rebuild the rows (the feed is bounded), keeping the cursor on its entry."""
        table: DataTable[Text] = self.query_one(DataTable)
        selected = self.selected
        table.clear()
        now = self.desk.clock()
        for index, request in enumerate(self.state.feed):
            table.add_row(Text("●" if index < self.unread_shown else " "),
                          Text(format_moment(request.created_at, now)), cell(request.agent_name),
                          Text(feed_state(request)), Text(line(self.reader.view(request))), key=request.id)
        if selected is not None:
            for index, request in enumerate(self.state.feed):
                if request.id == selected.id:
                    table.move_cursor(row=index, animate=False)
                    break
        self._show_detail()

    @property
    def selected(self) -> HitlRequest | None:
        """The entry under the cursor."""
        table: DataTable[Text] = self.query_one(DataTable)
        if not self.state.feed or table.row_count == 0:
            return None
        row = table.cursor_row
        return self.state.feed[row] if 0 <= row < len(self.state.feed) else None

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        request = self.selected
        body = self.query_one("#feed-body", Markdown)
        if request is None:
            body.update("*No notifications yet.* Agents send them with `hitl-desk notify` or the"
                        " `notify_human` tool.")
            return
        view = self.reader.view(request)
        request = view.request
        reply = f"\n\n---\n**Reply:** {md_body(request.response)}" if request.response else ""
        hint = "\n\n*Press Enter to reply.*" if request.status == "pending" and view.readable else ""
        body.update(f"**{md_literal(request.agent_name)}** · {request.kind}{_label(view)}\n\n"
                    f"{markdown(view)}{reply}{hint}")

    @on(DataTable.RowSelected)
    def action_reply(self) -> None:
        """Reply to the completion under the cursor (if it still waits)."""
        request = self.selected
        if request is None:
            return
        if request.id not in self.state.pending:
            self.notify("Nothing to reply to: this entry does not wait for an answer.", severity="warning")
            return
        self.state.mark_seen(request.id)
        self.app.push_screen(RequestScreen(request.id, section="feed"))

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Feed actions."""
        request = self.selected
        if request is not None and request.id in self.state.pending:
            yield SystemCommand("Reply to completion", f"Answer {markup_literal(request.agent_name)}'s report",
                                self.action_reply)
        yield SystemCommand("Mark notifications read", "Clear the unread marks", self.action_mark_read)
