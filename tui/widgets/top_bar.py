"""The bar at the top of every section: the sections with their counts, and the connection."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.events import Click
from textual.widget import Widget

from tui.state import DeskState

SECTIONS: tuple[tuple[str, str], ...] = (
    ("queue", "Queue"), ("feed", "Notifications"), ("history", "History"),
    ("agents", "Agents"), ("keys", "Keys"),
)
"""Mode name and label; the label's first letter is the key that opens it."""


class TopBar(Widget):
    """Sections (current one highlighted, counts beside) and the relay connection state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "top-bar--title", "top-bar--current", "top-bar--key", "top-bar--count",
        "top-bar--online", "top-bar--offline",
    }
    DEFAULT_CSS = """
    TopBar { height: 1; dock: top; }
    """

    def __init__(self, state: DeskState, section: str, address: str) -> None:
        super().__init__()
        self.state = state
        self.section = section
        self.address = address
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        """Lay out the sections on the left and the connection on the right."""
        style = self.get_component_rich_style
        text = Text(" hitl-desk ", style=style("top-bar--title"))
        self._spans = []
        for mode, label in SECTIONS:
            text.append(" ")
            start = cell_len(text.plain)
            current = style("top-bar--current") if mode == self.section else None
            text.append(" ")
            text.append(label[0], style=style("top-bar--key"))
            text.append(label[1:])
            count = self._count(mode)
            if count:
                text.append(f" {count}", style=style("top-bar--count"))
            text.append(" ")
            if current is not None:
                text.stylize(current, start, cell_len(text.plain))
            self._spans.append((start, cell_len(text.plain), mode))
        right = self._connection()
        gap = self.size.width - cell_len(text.plain) - cell_len(right.plain) - 1
        if gap < 1 and self.address:
            right = self._connection(short=True)
            gap = self.size.width - cell_len(text.plain) - cell_len(right.plain) - 1
        text.append(" " * max(1, gap))
        text.append_text(right)
        text.truncate(self.size.width)
        return text

    def _count(self, mode: str) -> int:
        if mode == "queue":
            return len(self.state.pending)
        if mode == "feed":
            return self.state.unread
        return 0

    def _connection(self, short: bool = False) -> Text:
        connection = self.state.connection
        if connection.connected:
            label = "● live" if short else f"● {self.address}"
            return Text(label, style=self.get_component_rich_style("top-bar--online"))
        if connection.error and "uthori" in connection.error:
            return Text("✕ not authorized", style=self.get_component_rich_style("top-bar--offline"))
        word = "connecting" if connection.last_seq is None else "reconnecting"
        return Text(f"○ {word}…", style=self.get_component_rich_style("top-bar--offline"))

    def on_click(self, event: Click) -> None:
        """Clicking a section opens it."""
        for start, end, mode in self._spans:
            if start <= event.x < end:
                self.app.switch_mode(mode)
                return
