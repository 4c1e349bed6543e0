"""The queue's table: a Line API view over ``PendingQueue`` that renders only visible rows.

Nothing is copied per row, so 10,000 pending requests cost what 20 do: an event changes the
queue in O(log n), the table recomputes its height and redraws the lines on screen.  Encrypted
requests are opened by the ``RequestReader`` when their row is first drawn, and only then.  The
countdown column is computed at render time, so a one-second refresh keeps it live.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hitl_desk.display import visible_line
from hitl_desk.models import HitlRequest
from hitl_desk.reading import Readable, RequestReader
from tui.clock import Clock, format_age, format_countdown, seconds_left
from tui.messages import OpenRequest
from tui.reader import line
from tui.state import PendingQueue

COLUMNS: tuple[tuple[str, int], ...] = (("", 2), ("Agent", 16), ("Kind", 11), ("Age", 5), ("Expires", 8))
URGENT_SECONDS = 60


def header_text(width: int) -> str:
    """The column titles, laid out as the rows are."""
    fixed = "".join(set_cell_size(title, size) for title, size in COLUMNS)
    return set_cell_size(fixed + "Prompt", width)


def row_text(view: Readable, fresh: bool, now_left: str, age: str, width: int) -> str:
    """One row's text at ``width`` cells (an encrypted request's behind its lock)."""
    request = view.request
    prompt = line(view)
    if request.choices:
        prompt = f"{prompt}  [{' | '.join(visible_line(c) for c in request.choices)}]"
    cells = ("● " if fresh else "  ", visible_line(request.agent_name), request.kind, age, now_left)
    fixed = "".join(set_cell_size(text + " ", size) if cell_len(text) < size else
                    set_cell_size(text, size - 1) + " " for text, (_, size) in zip(cells, COLUMNS, strict=True))
    return set_cell_size(fixed + prompt, width)


class RequestTable(ScrollView, can_focus=True):
    """Pending requests, newest first; the cursor follows its request when rows move."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", priority=False),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "request-table--cursor", "request-table--fresh", "request-table--urgent",
    }
    DEFAULT_CSS = """
    RequestTable { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, queue: PendingQueue, fresh: set[str], clock: Clock, reader: RequestReader, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.queue = queue
        self.reader = reader
        self.fresh = fresh
        self.clock = clock
        self.cursor = 0
        self.selected_id: str | None = None

    def on_mount(self) -> None:
        """Size to the queue and keep the countdowns live."""
        self.sync()
        self.set_interval(1.0, self.refresh)

    @property
    def selected(self) -> HitlRequest | None:
        """The request under the cursor."""
        return self.queue[self.cursor] if 0 <= self.cursor < len(self.queue) else None

    def sync(self) -> None:
        """The queue changed: keep the cursor on its request, resize and redraw."""
        count = len(self.queue)
        index = self.queue.index_of(self.selected_id) if self.selected_id else None
        self.cursor = min(index if index is not None else self.cursor, max(count - 1, 0))
        self._remember()
        self.virtual_size = Size(0, count)
        self.refresh()

    def _remember(self) -> None:
        request = self.selected
        self.selected_id = request.id if request else None

    def move_to(self, index: int) -> None:
        """Put the cursor on row ``index`` and scroll it into view."""
        count = len(self.queue)
        if not count:
            return
        self.cursor = max(0, min(index, count - 1))
        self._remember()
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor by a screenful."""
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_edge(self, end: int) -> None:
        """Jump to the first or last row."""
        self.move_to(len(self.queue) - 1 if end else 0)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Opening needs a row."""
        return self.selected is not None if action == "open" else True

    def action_open(self) -> None:
        """Open the request under the cursor."""
        if self.selected_id is not None:
            self.post_message(OpenRequest(self.selected_id))

    def on_click(self, event: Click) -> None:
        """Click selects a row; a double click opens it."""
        self.move_to(int(self.scroll_y) + event.y)
        if event.chain >= 2:
            self.action_open()

    def render_line(self, y: int) -> Strip:
        """Render one visible line from the queue."""
        width = self.scrollable_content_region.width
        index = int(self.scroll_y) + y
        base = self.rich_style
        if index >= len(self.queue):
            return Strip.blank(width, base)
        request = self.queue[index]
        now = self.clock()
        fresh = request.id in self.fresh
        text = row_text(self.reader.view(request), fresh, format_countdown(request.expires_at, now),
                        format_age(request.created_at, now), width)
        style = base
        left = seconds_left(request.expires_at, now)
        if left is not None and left < URGENT_SECONDS:
            style += self.get_component_rich_style("request-table--urgent")
        if fresh:
            style += self.get_component_rich_style("request-table--fresh")
        if index == self.cursor:
            style += self.get_component_rich_style("request-table--cursor")
        return Strip([Segment(text, style)], width)

