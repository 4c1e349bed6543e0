"""Small modal dialogs: confirm, ask for text, and show a new API key once."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from hitl_desk.display import visible_line
from hitl_desk.models import ApiKeyCreated
from tui.desk import DeskApp
from tui.widgets.welcome import Welcome

R = TypeVar("R")


class DeskModal(ModalScreen[R]):
    """A dialog that talks to the relay through the app's link (pairing, devices, OAuth clients)."""

    @property
    def desk(self) -> DeskApp:
        """The app, as the screens see it."""
        app = self.app
        assert isinstance(app, DeskApp)
        return app


class ConfirmModal(ModalScreen[bool]):
    """Ask yes or no; dismisses with the decision."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "decide(True)", "Yes"), Binding("n,escape", "decide(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        """A question and two buttons."""
        with Vertical(classes="dialog") as box:
            box.border_title = "Confirm"
            yield Static(self.question, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} \\[y]", id="yes", variant="error")
                yield Button("No \\[n]", id="no")

    def on_mount(self) -> None:
        """Focus the safe answer."""
        self.query_one("#no").focus()

    def action_decide(self, decision: bool) -> None:
        """Close with the decision."""
        self.dismiss(decision)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class AskModal(ModalScreen[tuple[str, str] | None]):
    """Ask for a name and an optional second field; dismisses with both, or None.

    A given ``value`` (an agent's name) is shown escaped, and comes back as it was if left as is.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, label: str, value: str = "", second: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.label = label
        self.value = value
        self.second = second

    def compose(self) -> ComposeResult:
        """One or two inputs and an OK button."""
        with Vertical(classes="dialog") as box:
            box.border_title = self.title_text
            yield Label(self.label)
            yield Input(visible_line(self.value), id="first")
            if self.second is not None:
                yield Label(self.second)
                yield Input(id="second", placeholder="optional")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        first = self.query_one("#first", Input).value.strip()
        if first == visible_line(self.value).strip():
            first = self.value  # a given agent name is shown escaped but meant as it is
        if not first:
            self.notify("A name is needed.", severity="warning")
            return
        second = self.query_one("#second", Input).value.strip() if self.second is not None else ""
        self.dismiss((first, second))

    @on(Button.Pressed, "#cancel")
    def action_dismiss_none(self) -> None:
        """Close without an answer."""
        self.dismiss(None)


class KeyCreatedModal(ModalScreen[None]):
    """Show a new API key the one time it exists, with a copy button and how to use it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy key"), Binding("escape,enter", "close", "Done"),
    ]

    def __init__(self, key: ApiKeyCreated) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        """The key, a warning that it is shown once, and the next step."""
        with Vertical(classes="dialog wide") as box:
            box.border_title = Content(f"New key for {visible_line(self.key.agent_name)}")
            yield Static("Copy it now: it is shown only once.", classes="warning")
            yield Input(self.key.api_key, id="secret")
            yield Static(f"Use it as HITL_API_KEY, or run: hitl-desk mcp-config claude-code\n"
                         f"Listed as {self.key.prefix}… in Keys.", classes="hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy \\[c]", id="copy", variant="primary")
                yield Button("Done", id="done")

    def on_mount(self) -> None:
        """Focus Copy so the key itself is not edited by accident."""
        self.query_one("#copy").focus()

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        """Copy the key to the clipboard (OSC 52)."""
        self.app.copy_to_clipboard(self.key.api_key)
        self.notify("Key copied to the clipboard.")

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        """Close; the key is gone from the UI."""
        self.dismiss(None)


class GuideModal(ModalScreen[None]):
    """How to connect an agent (the first-run guide, on demand)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Close")]

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def compose(self) -> ComposeResult:
        """The guide and a close button."""
        with Vertical(classes="dialog wide") as box:
            box.border_title = "Connect an agent"
            yield Welcome(self.url, first_run=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close the guide."""
        self.dismiss(None)
