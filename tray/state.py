"""What the tray shows, derived purely from relay events: pending queue, badge and menu model.

No I/O and no pystray here: ``TrayState`` is fed ``Event``s and answers questions, so the
tray's behaviour is tested without a display. It keeps requests as the relay sent them and
shows them through a ``read`` function (``tray.reader.TrayReader.view`` for encrypted ones).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from hitl_desk.display import visible_line
from hitl_desk.models import Event, HitlRequest
from hitl_desk.reading import Readable, plain

LABEL_CHARS = 48
"""Longest menu label before it is cut with an ellipsis."""

RECENT_LIMIT = 20
"""How many recent notification messages the tray remembers."""

APP_TITLE = "hitl-desk"

AnswerAction: TypeAlias = tuple[Literal["answer"], str, str]
"""Answer request ``[1]`` with the choice ``[2]``."""
OpenAction: TypeAlias = tuple[Literal["open"], str]
"""Open request ``[1]`` where free text can be typed (TUI or a dialog)."""
CommandAction: TypeAlias = (
    tuple[Literal["open_tui"]] | tuple[Literal["toggle_dnd"]] | tuple[Literal["quit"]] | tuple[Literal["pair"]]
)
Action: TypeAlias = AnswerAction | OpenAction | CommandAction
"""The value a menu entry hands back when the user picks it."""

OPEN_TUI: CommandAction = ("open_tui",)
TOGGLE_DND: CommandAction = ("toggle_dnd",)
QUIT: CommandAction = ("quit",)
PAIR: CommandAction = ("pair",)


@dataclass(frozen=True)
class MenuEntry:
    """One menu item: a label and either an action or a submenu."""

    label: str
    action: Action | None = None
    submenu: tuple[MenuItemModel, ...] = ()
    checked: bool | None = None
    """``None`` for a plain item; ``True``/``False`` for a check item."""
    default: bool = False
    """The item a click on the icon runs where the backend has no menu (xorg)."""
    enabled: bool = True


@dataclass(frozen=True)
class Separator:
    """A line between groups of menu items."""


MenuItemModel: TypeAlias = MenuEntry | Separator
SEPARATOR = Separator()


_LINE_BREAK = re.compile(r"\r?\n")
_BLANKS = re.compile(r"[ \t]+")


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """Return the first line of ``text`` as one safe line, blanks collapsed, cut to ``limit``.

    For a prompt, whose full text is a click away.  Only a real line break (``\n``,
    ``\r\n``) ends the line; every other control character (``\r``, U+2028, ESC, bidi
    overrides) is shown escaped by ``visible_line`` rather than taken as a break or drawn, so a
    label cannot hide or reorder what follows.
    """
    lines = _LINE_BREAK.split(text.strip(" \t\r\n"))
    line = one_line(lines[0], limit)
    return line if len(lines) == 1 or line.endswith("…") else line[: limit - 1].rstrip() + "…"


def one_line(text: str, limit: int = LABEL_CHARS) -> str:
    """Return all of ``text`` as one safe line (line breaks shown escaped), cut to ``limit``.

    For a choice or a placeholder: two choices that differ only after their first line must
    not look the same on their buttons.
    """
    line = visible_line(_BLANKS.sub(" ", text.strip(" \t\r\n")))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def request_label(view: Readable) -> str:
    """Return the menu label of a pending request: agent name, lock, the start of its prompt."""
    name = visible_line(view.request.agent_name)  # a newline in the name must not end the label
    return shorten(f"{name}: {view.marker}{view.request.prompt}")


def _request_entry(view: Readable) -> MenuEntry:
    """Build the entry of one pending request with its submenu of answers.

    A request the tray cannot read offers only "Open…": nobody answers what they cannot see.
    """
    request = view.request
    open_entry = MenuEntry("Open…", ("open", request.id))
    items: list[MenuItemModel]
    if not view.readable:
        items = [open_entry]
    elif request.choices:
        items = [MenuEntry(one_line(choice), ("answer", request.id, choice))
                 for choice in request.choices]
        items += [SEPARATOR, open_entry]
    else:
        items = [MenuEntry("Reply…", ("open", request.id))]
    return MenuEntry(request_label(view), submenu=tuple(items))


class TrayState:
    """The tray's view of the relay: pending questions in arrival order, recent messages, DnD."""

    def __init__(
        self,
        pending: Iterable[HitlRequest] = (),
        *,
        last_seq: int = 0,
        dnd: bool = False,
        recent_limit: int = RECENT_LIMIT,
        read: Callable[[HitlRequest], Readable] = plain,
        pairing: bool = False,
    ) -> None:
        self.read = read
        self.pairing = pairing
        """Whether the menu offers "Pair a device…" (a tray holding the desk's home and owner credential)."""
        """How a request is shown: decrypted, marked, or why it cannot be read."""
        self._pending: dict[str, HitlRequest] = {}
        self._recent: list[HitlRequest] = []
        self._recent_limit = recent_limit
        self.dnd = dnd
        self.last_seq = last_seq
        self.load(pending, last_seq=last_seq)

    def load(self, pending: Iterable[HitlRequest], *, last_seq: int) -> None:
        """Replace the pending queue with a snapshot taken at event ``last_seq``."""
        ordered = sorted(pending, key=lambda r: r.created_at)
        self._pending = {r.id: r for r in ordered if _is_waiting(r)}
        self.last_seq = last_seq

    def apply(self, event: Event) -> bool:
        """Apply one event; return False when it was already seen (``seq <= last_seq``)."""
        if event.seq <= self.last_seq:
            return False
        self.last_seq = event.seq
        request = event.request
        if event.type == "request.created":
            if request.kind == "notification":
                self._remember(request)
            elif _is_waiting(request):
                self._pending[request.id] = request
        else:
            self._pending.pop(request.id, None)
        return True

    def apply_all(self, events: Iterable[Event]) -> bool:
        """Apply events in order; return True if any of them was new."""
        changed = False
        for event in events:
            changed = self.apply(event) or changed
        return changed

    def _remember(self, message: HitlRequest) -> None:
        """Put a notification message at the front of the recent list."""
        self._recent = [m for m in self._recent if m.id != message.id]
        self._recent.insert(0, message)
        del self._recent[self._recent_limit :]

    @property
    def pending(self) -> list[HitlRequest]:
        """Pending input and completion requests, oldest first."""
        return list(self._pending.values())

    @property
    def recent(self) -> list[HitlRequest]:
        """Recent notification messages, newest first."""
        return list(self._recent)

    @property
    def badge(self) -> int:
        """The number shown on the icon: how many requests wait for the human."""
        return len(self._pending)

    @property
    def attention(self) -> bool:
        """True when something waits for the human."""
        return bool(self._pending)

    def get(self, request_id: str) -> HitlRequest | None:
        """Return the pending request ``request_id``, if it still waits."""
        return self._pending.get(request_id)

    def toggle_dnd(self) -> bool:
        """Flip do-not-disturb; return the new value."""
        self.dnd = not self.dnd
        return self.dnd

    def tooltip(self) -> str:
        """Return the icon's tooltip: the pending count, the oldest question, DnD."""
        count = self.badge
        if count == 0:
            text = f"{APP_TITLE}: nothing waiting"
        else:
            noun = "request" if count == 1 else "requests"
            oldest = request_label(self.read(self.pending[0]))
            text = f"{APP_TITLE}: {count} {noun} waiting\n{oldest}"
        if self.dnd:
            text += "\n(do not disturb)"
        return text

    def menu_model(self) -> tuple[MenuItemModel, ...]:
        """Return the menu: one entry per pending request, then Open TUI, Do not disturb, (Pair a device…), Quit."""
        items: list[MenuItemModel] = [
            _request_entry(self.read(r)) for r in self._pending.values()
        ]
        if not items:
            items.append(MenuEntry("Nothing waiting", enabled=False))
        items += [
            SEPARATOR,
            MenuEntry("Open TUI", OPEN_TUI, default=True),
            MenuEntry("Do not disturb", TOGGLE_DND, checked=self.dnd),
            *([MenuEntry("Pair a device…", PAIR)] if self.pairing else []),
            SEPARATOR,
            MenuEntry("Quit", QUIT),
        ]
        return tuple(items)


def _is_waiting(request: HitlRequest) -> bool:
    """True for an input or completion request still pending."""
    return request.kind != "notification" and request.status == "pending"
