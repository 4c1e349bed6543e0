"""How the TUI words a request it read (``hitl_desk.reading``): a heading label and Markdown.

Every screen shows requests through ``DeskLink.reader`` (a ``hitl_desk.reading.RequestReader``);
the detail panes of the feed and the history put these two around what it read.
"""

from __future__ import annotations

from hitl_desk.reading import LOCK, UNVERIFIED, Readable


def label(view: Readable) -> str:
    """How it travelled, for a detail's heading: ``🔒 E2EE`` and what is wrong, or nothing."""
    if not view.sealed:
        return ""
    if not view.readable:
        return f"{LOCK} cannot read"
    return f"{LOCK} E2EE" if view.bound else f"{LOCK} E2EE, {UNVERIFIED}"


def markdown(view: Readable) -> str:
    """The full text (Markdown), or why it cannot be read."""
    return view.request.prompt if view.readable else f"**{view.marker}**\n\n{view.detail}"
