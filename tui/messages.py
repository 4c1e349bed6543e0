"""Messages from the relay link to the screens.

Every one is a ``DeskMessage``: the app receives it, then publishes it on its ``desk`` signal
to the screens and widgets that follow it.  The "something changed" kind coalesces: a burst
of a thousand events becomes one ``QueueChanged`` if the UI is busy when they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from hitl_desk.models import ApiKeyCreated, HitlRequest


class DeskMessage(Message):
    """Base of everything the link tells the UI."""


@dataclass
class QueueChanged(DeskMessage):
    """The pending queue changed (one or many events)."""

    def can_replace(self, message: Message) -> bool:
        """A newer change makes an unprocessed older one redundant."""
        return isinstance(message, QueueChanged)


@dataclass
class FeedChanged(DeskMessage):
    """The notifications feed or its unread count changed."""

    def can_replace(self, message: Message) -> bool:
        """A newer change makes an unprocessed older one redundant."""
        return isinstance(message, FeedChanged)


@dataclass
class HistoryChanged(DeskMessage):
    """Closed requests were loaded or added."""

    def can_replace(self, message: Message) -> bool:
        """A newer change makes an unprocessed older one redundant."""
        return isinstance(message, HistoryChanged)


@dataclass
class DirectoryChanged(DeskMessage):
    """The agents or API keys were (re)loaded."""

    def can_replace(self, message: Message) -> bool:
        """A newer change makes an unprocessed older one redundant."""
        return isinstance(message, DirectoryChanged)


@dataclass
class ConnectionChanged(DeskMessage):
    """The event stream connected or dropped."""

    connected: bool
    last_seq: int | None
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        """Only the newest connection state matters."""
        return isinstance(message, ConnectionChanged)


@dataclass
class RequestClosed(DeskMessage):
    """A pending request was answered, expired or cancelled."""

    request: HitlRequest
    elsewhere: bool
    """True when this approver did not close it (another approver, the agent, the clock)."""


@dataclass
class KeyCreated(DeskMessage):
    """A new API key: the one time its secret is known."""

    key: ApiKeyCreated


@dataclass
class OpenRequest(Message):
    """The human chose a request to look at (from the queue or the feed)."""

    request_id: str
