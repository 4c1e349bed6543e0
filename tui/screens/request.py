"""One request: its prompt as Markdown, the choices on number keys, a free-text answer.

An encrypted request is shown decrypted and marked; its answer is sealed to the agent.  One
this approver cannot read says why and offers no answer (the text would have to be guessed,
and a plaintext answer is refused for it anyway); it can still be cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Markdown, Static

from hitl_desk.action import MAX_ARGUMENT_CHARS, describe
from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError, RequestClosedError
from hitl_desk.models import HitlRequest
from hitl_desk.reading import LOCK, Readable, why_gone
from tui.clock import format_age, format_countdown
from tui.messages import DeskMessage, RequestClosed
from tui.reader import line, markdown, markup_literal
from tui.screens.base import DeskScreen
from tui.screens.modals import ConfirmModal

NUMBER_KEYS = 9
UNVERIFIED = (f"> {LOCK} **Unverified envelope.** Sent by a client that does not bind the request id "
              "inside the encryption (hitl-cli): the relay cannot read it, but could have replayed it "
              "from another request.\n\n")
CANNOT_READ = """\
## {lock} Cannot read this request

It is encrypted end to end, and this approver cannot open it: **{problem}**.

{detail}

Answering needs the readable text, so it is not offered here. You can cancel the request
(**Ctrl+X**) or leave it for an approver that can read it.
"""


def describe_closing(view: Readable) -> str:
    """The note shown when a request closes without this approver: who, and what (plain text)."""
    request = view.request
    subject = f"{visible_line(request.agent_name)}: {line(view)[:40]}"
    by = f" by {visible_line(request.answered_by)}" if request.answered_by else ""
    if request.status == "answered":
        return f"Answered elsewhere{by} — {subject} → {visible_line(repr(request.response))}"
    if request.status == "expired":
        return f"Expired — {subject}"
    why = f" ({reason})" if (reason := why_gone(request)) else ""
    return f"Cancelled{why}{by} — {subject}"


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
        """The request as the relay sent it (what an answer is sealed against), while pending."""
        return self.state.pending.get(self.request_id)

    @property
    def view(self) -> Readable | None:
        """The request as shown (decrypted), while pending."""
        request = self.request
        return None if request is None else self.reader.view(request)

    @property
    def answerable(self) -> bool:
        """Pending, and its content is readable here."""
        view = self.view
        return view is not None and view.readable

    def compose(self) -> ComposeResult:
        """Meta line, prompt, choices, answer field."""
        view = self.view
        request = view.request if view else None
        yield from self.compose_bars()
        yield Static(id="request-meta")
        if request is not None and request.action is not None:
            # What a yes lets run, as the rules match it: tool and argument, one escaped line.
            yield Static(Content.assemble(("⚙ ", "bold"), describe(request.action, MAX_ARGUMENT_CHARS)),
                         id="request-action")
        with VerticalScroll(id="request-prompt"):
            yield Markdown(self._body(view), open_links=False)
        if request and request.choices:
            with Horizontal(id="request-choices"):
                for number, choice in enumerate(request.choices, start=1):
                    label = f"{number} {visible_line(choice)}" if number <= NUMBER_KEYS else visible_line(choice)
                    yield Button(Content(label), id=f"choice-{number}", classes="choice", compact=True)
        if view is None or view.readable:
            with Horizontal(id="request-answer"):
                yield Input(placeholder=self._placeholder(request), id="answer-text")
                yield Button("Send", id="send", variant="primary", compact=True)

    @staticmethod
    def _body(view: Readable | None) -> str:
        if view is None:
            return "*This request is no longer pending.*"
        if not view.readable:
            return CANNOT_READ.format(lock=LOCK, problem=view.problem, detail=view.detail or "")
        return (UNVERIFIED if view.sealed and not view.bound else "") + markdown(view)

    def _placeholder(self, request: HitlRequest | None) -> str:
        if request is None:
            return ""
        if request.placeholder_text:
            return visible_line(request.placeholder_text)
        if request.kind == "completion":
            return "Reply to the agent…"
        return "Or type an answer…" if request.choices else "Type your answer…"

    def on_mount(self) -> None:
        """Focus the first choice (number keys work) or the text field."""
        self._update_meta()
        self.set_interval(1.0, self._update_meta)
        choices = self.query(".choice")
        answer = self.query("#answer-text")
        (choices.first() if choices else answer.first() if answer else self.query_one("#request-prompt")).focus()
        if self.request is None:
            self.notify("This request is no longer pending.", severity="warning")

    def _update_meta(self) -> None:
        view = self.view
        if view is None:
            return
        request = view.request
        now = self.desk.clock()
        kind = "task finished — reply" if request.kind == "completion" else "question"
        lock = "" if not view.sealed else f"{LOCK} E2EE · " if view.readable else f"{LOCK} cannot read · "
        self.query_one("#request-meta", Static).update(Content.assemble(
            lock, (visible_line(request.agent_name), "bold"),
            f" · {kind} · asked {format_age(request.created_at, now)} ago"
            f" · expires in {format_countdown(request.expires_at, now)}"))

    def on_desk(self, message: DeskMessage) -> None:
        """Close with a note when the request is answered, expires or is cancelled elsewhere."""
        if isinstance(message, RequestClosed) and message.request.id == self.request_id:
            if message.elsewhere and not self.busy:
                self.notify(describe_closing(self.reader.view(message.request)), severity="warning", timeout=8,
                            markup=False)
                self.dismiss_screen()

    def dismiss_screen(self) -> None:
        """Go back to where the request was opened from."""
        if self.is_current:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Number keys exist only for the choices there are."""
        if action == "choose":
            view = self.view
            count = len(view.request.choices) if view else 0
            return isinstance(parameters[0], int) and parameters[0] <= count
        if action == "send":
            return self.answerable
        return True

    def action_choose(self, number: int) -> None:
        """Answer with choice ``number``."""
        view = self.view
        if view and 1 <= number <= len(view.request.choices):
            self.send(view.request.choices[number - 1])

    @on(Button.Pressed, ".choice")
    def _choice_pressed(self, event: Button.Pressed) -> None:
        assert event.button.id is not None
        self.action_choose(int(event.button.id.removeprefix("choice-")))

    @on(Input.Submitted, "#answer-text")
    @on(Button.Pressed, "#send")
    def action_send(self) -> None:
        """Send the typed answer."""
        if not self.answerable:
            return
        text = self.query_one("#answer-text", Input).value
        if not text.strip():
            self.notify("Type an answer first (or pick a choice).", severity="warning")
            self.query_one("#answer-text").focus()
            return
        self.send(text)

    def send(self, text: str) -> None:
        """Answer the request with ``text`` (sealed for the agent when it is encrypted)."""
        request = self.request
        if self.busy or request is None or not self.answerable:
            return
        self.busy = True
        self.query_one("#request-answer").disabled = True
        self._answer(request, text)

    @work(group="commands", exclusive=True)
    async def _answer(self, request: HitlRequest, text: str) -> None:
        try:
            await self.link.answer(request, text)
        except RequestClosedError as exc:
            self.notify(f"Too late: {exc.message}", severity="warning", timeout=8, markup=False)
        except HitlError as exc:
            self.busy = False
            self.query_one("#request-answer").disabled = False
            self.report(exc, "Answering")
            return
        else:
            self.notify(f"Answered: {visible_line(text[:60])}", markup=False)
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

        self.app.push_screen(ConfirmModal(f"Cancel this request from {visible_line(request.agent_name)}?",
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
        view = self.view
        if view is None:
            return
        request = view.request
        for number, choice in enumerate(request.choices, start=1):
            yield SystemCommand(f"Answer: {markup_literal(choice)}",
                                f"Send choice {number} to {markup_literal(request.agent_name)}",
                                lambda c=choice: self.send(c))
        if view.readable:
            yield SystemCommand("Send typed answer", "Send the text in the answer field", self.action_send)
        yield SystemCommand("Cancel this request", "Withdraw it; the agent gets 'cancelled'",
                            self.action_cancel_request)
        yield SystemCommand("Back to the list", "Leave without answering", self.action_back)
