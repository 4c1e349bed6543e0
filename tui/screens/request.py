"""One request: its prompt as Markdown, the choices on number keys, a free-text answer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Markdown, Static

from hitl_desk.errors import HitlError, RequestClosedError
from hitl_desk.models import HitlRequest
from tui.clock import format_age, format_countdown
from tui.messages import DeskMessage, RequestClosed
from tui.screens.base import DeskScreen
from tui.screens.modals import ConfirmModal

NUMBER_KEYS = 9


def describe_closing(request: HitlRequest) -> str:
    """The note shown when a request closes without this approver: who, and what."""
    subject = f"{request.agent_name}: {' '.join(request.prompt.split())[:40]}"
    if request.status == "answered":
        by = f" by {request.answered_by}" if request.answered_by else ""
        return f"Answered elsewhere{by} — {subject} → {request.response!r}"
    if request.status == "expired":
        return f"Expired — {subject}"
    by = f" by {request.answered_by}" if request.answered_by else ""
    return f"Cancelled{by} — {subject}"


class RequestScreen(DeskScreen):
    """Read a request and answer it: a number key picks a choice, Enter sends typed text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "choose(1)", "Choose", key_display="1-9"),
        *(Binding(str(n), f"choose({n})", f"Choice {n}", show=False) for n in range(2, NUMBER_KEYS + 1)),
        Binding("ctrl+s", "send", "Send"),
        Binding("ctrl+x", "cancel_request", "Cancel request"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, request_id: str, section: str = "queue") -> None:
        super().__init__()
        self.request_id = request_id
        self.SECTION = section
        self.busy = False

    @property
    def request(self) -> HitlRequest | None:
        """The request, while it is pending."""
        return self.state.pending.get(self.request_id)

    def compose(self) -> ComposeResult:
        """Meta line, prompt, choices, answer field."""
        request = self.request
        yield from self.compose_bars()
        yield Static(id="request-meta")
        with VerticalScroll(id="request-prompt"):
            yield Markdown(request.prompt if request else "*This request is no longer pending.*")
        if request and request.choices:
            with Horizontal(id="request-choices"):
                for number, choice in enumerate(request.choices, start=1):
                    label = f"{number} {choice}" if number <= NUMBER_KEYS else choice
                    yield Button(label, id=f"choice-{number}", classes="choice", compact=True)
        with Horizontal(id="request-answer"):
            yield Input(placeholder=self._placeholder(request), id="answer-text")
            yield Button("Send", id="send", variant="primary", compact=True)

    def _placeholder(self, request: HitlRequest | None) -> str:
        if request is None:
            return ""
        if request.placeholder_text:
            return request.placeholder_text
        if request.kind == "completion":
            return "Reply to the agent…"
        return "Or type an answer…" if request.choices else "Type your answer…"

    def on_mount(self) -> None:
        """Focus the first choice (number keys work) or the text field."""
        self._update_meta()
        self.set_interval(1.0, self._update_meta)
        choices = self.query(".choice")
        (choices.first() if choices else self.query_one("#answer-text")).focus()
        if self.request is None:
            self.notify("This request is no longer pending.", severity="warning")

    def _update_meta(self) -> None:
        request = self.request
        if request is None:
            return
        now = self.desk.clock()
        kind = "task finished — reply" if request.kind == "completion" else "question"
        self.query_one("#request-meta", Static).update(
            f"[b]{request.agent_name}[/b] · {kind} · asked {format_age(request.created_at, now)} ago"
            f" · expires in {format_countdown(request.expires_at, now)}")

    def on_desk(self, message: DeskMessage) -> None:
        """Close with a note when the request is answered, expires or is cancelled elsewhere."""
        if isinstance(message, RequestClosed) and message.request.id == self.request_id:
            if message.elsewhere and not self.busy:
                self.notify(describe_closing(message.request), severity="warning", timeout=8)
                self.dismiss_screen()

    def dismiss_screen(self) -> None:
        """Go back to where the request was opened from."""
        if self.is_current:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Number keys exist only for the choices there are."""
        if action == "choose":
            request = self.request
            count = len(request.choices) if request else 0
            return isinstance(parameters[0], int) and parameters[0] <= count
        return True

    def action_choose(self, number: int) -> None:
        """Answer with choice ``number``."""
        request = self.request
        if request and 1 <= number <= len(request.choices):
            self.send(request.choices[number - 1])

    @on(Button.Pressed, ".choice")
    def _choice_pressed(self, event: Button.Pressed) -> None:
        assert event.button.id is not None
        self.action_choose(int(event.button.id.removeprefix("choice-")))

    @on(Input.Submitted, "#answer-text")
    @on(Button.Pressed, "#send")
    def action_send(self) -> None:
        """Send the typed answer."""
        text = self.query_one("#answer-text", Input).value
        if not text.strip():
            self.notify("Type an answer first (or pick a choice).", severity="warning")
            self.query_one("#answer-text").focus()
            return
        self.send(text)

    def send(self, text: str) -> None:
        """Answer the request with ``text``."""
        if self.busy or self.request is None:
            return
        self.busy = True
        self.query_one("#request-answer").disabled = True
        self._answer(text)

    @work(group="commands", exclusive=True)
    async def _answer(self, text: str) -> None:
        try:
            await self.link.answer(self.request_id, text)
        except RequestClosedError as exc:
            self.notify(f"Too late: {exc.message}", severity="warning", timeout=8)
        except HitlError as exc:
            self.busy = False
            self.query_one("#request-answer").disabled = False
            self.report(exc, "Answering")
            return
        else:
            self.notify(f"Answered: {text[:60]}")
        self.dismiss_screen()

    def action_cancel_request(self) -> None:
        """Withdraw the request after asking; the agent gets 'cancelled'."""
        request = self.request
        if request is None:
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._cancel()

        self.app.push_screen(ConfirmModal(f"Cancel this request from {request.agent_name}?",
                                          yes="Cancel request"), decided)

    @work(group="commands", exclusive=True)
    async def _cancel(self) -> None:
        try:
            await self.link.cancel(self.request_id)
        except HitlError as exc:
            self.busy = False
            self.report(exc, "Cancelling")
            return
        self.notify("Request cancelled.")
        self.dismiss_screen()

    def action_back(self) -> None:
        """Back to the list without answering."""
        self.dismiss_screen()

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Every way to answer this request."""
        request = self.request
        if request is None:
            return
        for number, choice in enumerate(request.choices, start=1):
            yield SystemCommand(f"Answer: {choice}", f"Send choice {number} to {request.agent_name}",
                                lambda c=choice: self.send(c))
        yield SystemCommand("Send typed answer", "Send the text in the answer field", self.action_send)
        yield SystemCommand("Cancel this request", "Withdraw it; the agent gets 'cancelled'",
                            self.action_cancel_request)
        yield SystemCommand("Back to the list", "Leave without answering", self.action_back)
