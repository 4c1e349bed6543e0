"""History: answered, expired and cancelled requests, filtered by agent, status and text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Markdown, Select

from hitl_desk.action import describe
from hitl_desk.errors import HitlError
from hitl_desk.models import HitlRequest
from hitl_desk.reading import Readable, why_gone
from hitl_desk.rules import rule_of
from tui.clock import format_moment
from tui.messages import DeskMessage, HistoryChanged
from tui.reader import cell, label, line, markdown, md_body, md_literal
from tui.screens.base import DeskScreen

STATUSES = ("answered", "expired", "cancelled")


def matches(request: HitlRequest, agent: str | None, status: str | None, text: str) -> bool:
    """Whether a closed request passes the filters (text: case-insensitive, prompt or answer).

    ``request`` is the readable copy: encrypted requests are searched in their decrypted text.
    """
    if agent and request.agent_name != agent:
        return False
    if status and request.status != status:
        return False
    if text:
        needle = text.casefold()
        return needle in request.prompt.casefold() or needle in (request.response or "").casefold()
    return True


class HistoryScreen(DeskScreen):
    """Closed requests, most recent first; '/' filters by text."""

    SECTION = "history"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter"),
        Binding("r", "reload", "Reload"),
    ]

    def compose(self) -> ComposeResult:
        """Top bar, filters, table, the selected request in full, footer."""
        yield from self.compose_bars()
        with Horizontal(id="history-filters"):
            yield Input(placeholder="Filter text…  (/)", id="history-text")
            yield Select[str]([], prompt="Any agent", id="history-agent")
            yield Select[str]([(s, s) for s in STATUSES], prompt="Any status", id="history-status")
        table: DataTable[Text] = DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        table.add_column("Closed", key="closed", width=9)
        table.add_column("Status", key="status", width=9)
        table.add_column("Agent", key="agent", width=14)
        table.add_column("Prompt", key="prompt", width=24)
        table.add_column("Answer", key="answer")
        yield table
        with VerticalScroll(id="history-detail"):
            yield Markdown(id="history-body", open_links=False)

    def on_mount(self) -> None:
        """Load the history once, then follow it."""
        self.fill()
        self.query_one(DataTable).focus()
        if not self.state.history_loaded and self.link.client is not None:
            self.action_reload()

    @work(group="history", exclusive=True)
    async def action_reload(self) -> None:
        """Fetch the history again."""
        try:
            await self.link.load_history()
        except HitlError as exc:
            self.report(exc, "Loading history")

    def on_desk(self, message: DeskMessage) -> None:
        """Requests closed since: add them now if shown, else when shown next."""
        if isinstance(message, HistoryChanged):
            self.stale = not self.is_current
            if self.is_current:
                self.fill()

    def on_screen_resume(self) -> None:
        """Shown again: catch up with what closed meanwhile."""
        if getattr(self, "stale", False):
            self.stale = False
            self.fill()

    @on(Input.Changed, "#history-text")
    @on(Select.Changed)
    def fill(self) -> None:
        """Show the requests that pass the filters."""
        self._refresh_agents()
        agent = self._choice("#history-agent")
        status = self._choice("#history-status")
        text = self.query_one("#history-text", Input).value.strip()
        views = (self.reader.view(r) for r in self.state.history)
        self.shown = [v for v in views if matches(v.request, agent, status, text)]
        self.rows = [v.request for v in self.shown]
        table: DataTable[Text] = self.query_one(DataTable)
        table.clear()
        now = self.desk.clock()
        for view in self.shown:
            request = view.request
            table.add_row(Text(format_moment(request.closed_at, now)), Text(request.status), cell(request.agent_name),
                          Text(line(view)), cell(" ".join((request.response or "").split())), key=request.id)
        self._show_detail()

    def _choice(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return value if isinstance(value, str) else None

    def _refresh_agents(self) -> None:
        select: Select[str] = self.query_one("#history-agent", Select)
        names = sorted({r.agent_name for r in self.state.history})
        if names != getattr(self, "_agent_names", None):
            self._agent_names = names
            current = select.value
            with self.prevent(Select.Changed):
                select.set_options((cell(n), n) for n in names)
                if isinstance(current, str) and current in names:
                    select.value = current

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        table: DataTable[Text] = self.query_one(DataTable)
        body = self.query_one("#history-body", Markdown)
        rows: list[Readable] = getattr(self, "shown", [])
        if not rows:
            body.update("*Nothing here yet.*" if not self.state.history else "*No request matches.*")
            return
        view = rows[min(table.cursor_row, len(rows) - 1)]
        request = view.request
        by = f" by {md_literal(request.answered_by)}" if request.answered_by else ""
        if (rule_id := rule_of(request.answered_by)) is not None:
            by = f" by the always-allow rule {md_literal(rule_id)}"
        action = f"⚙ {md_literal(describe(request.action))}\n\n" if request.action else ""
        why = f" ({reason})" if (reason := why_gone(request)) else ""
        answer = (f"**Answer{by}:** {md_body(request.response)}" if request.response is not None
                  else f"*{request.status}{why}*")
        lock = f" · {label(view)}" if view.sealed else ""
        body.update(f"**{md_literal(request.agent_name)}** · {request.kind} · {request.status}{lock}\n\n"
                    f"{action}{markdown(view)}\n\n{answer}")

    def action_focus_filter(self) -> None:
        """Type to filter."""
        self.query_one("#history-text").focus()

    def action_clear_filter(self) -> None:
        """Clear every filter."""
        self.query_one("#history-text", Input).value = ""
        self.query_one("#history-agent", Select).clear()
        self.query_one("#history-status", Select).clear()
        self.query_one(DataTable).focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        """History actions, one per status filter."""
        yield SystemCommand("Filter history by text", "Focus the text filter", self.action_focus_filter)
        yield SystemCommand("Clear history filters", "Show every closed request", self.action_clear_filter)
        yield SystemCommand("Reload history", "Fetch closed requests from the relay", self.action_reload)
        for status in STATUSES:
            yield SystemCommand(f"Show only {status} requests", f"Filter history to {status}",
                                lambda s=status: self._set_status(s))

    def _set_status(self, status: str) -> None:
        self.query_one("#history-status", Select).value = status
