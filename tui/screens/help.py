"""The help screen: every key that works where it was opened, read from the active bindings.

The list is never kept by hand: it is the bindings Textual would act on for the screen below
(the focused widget's, the screen's and the app's), so a key added anywhere shows up here.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static


def key_rows(screen: Screen[object]) -> list[tuple[str, str]]:
    """(keys, what they do) for every binding active on ``screen``: the footer's first, then the
    rest, each in the order Textual tries them.

    Keys bound to the same action on the same node are shown together (``d / delete``);
    system bindings (Ctrl+C) are left out, as Textual's own key panel does.
    """
    app = screen.app
    grouped: dict[tuple[int, str], tuple[list[str], str]] = {}
    active_bindings = screen.active_bindings.values()
    for active in sorted(active_bindings, key=lambda a: not a.binding.show):
        binding = active.binding
        if binding.system or not active.enabled:
            continue
        what = binding.description or binding.tooltip or binding.action
        keys, _ = grouped.setdefault((id(active.node), binding.action), ([], what))
        shown = app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    return [(" / ".join(keys), what) for keys, what in grouped.values()]


class HelpModal(ModalScreen[None]):
    """The keys of the screen it was opened over; Escape, Enter, ? or F1 close it (no button: the
    table keeps the focus so the arrows scroll it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the table has the focus (it scrolls) and would keep Enter for itself
        Binding("escape,enter,question_mark,f1", "close", "Close", priority=True),
    ]

    def __init__(self, over: Screen[object]) -> None:
        super().__init__()
        self.rows = key_rows(over)

    def compose(self) -> ComposeResult:
        """A table of keys and a close button."""
        with Vertical(classes="dialog wide", id="help") as box:
            box.border_title = "Keys"
            table: DataTable[Text] = DataTable(id="help-keys", cursor_type="none", show_cursor=False,
                                               show_header=False)
            table.add_column("Key", key="key")
            table.add_column("Does", key="does")
            for keys, what in self.rows:
                table.add_row(Text(keys, style="bold"), Text(what))
            yield table
            yield Static("↑↓ scroll · Esc closes · Ctrl+P searches every command", classes="hint")

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
