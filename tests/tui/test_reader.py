"""How the TUI words a request it read: the heading label and the Markdown body.

What every approver reads (and how often) is tested once, in ``tests/core/test_reading.py``.
"""

from __future__ import annotations

from hitl_desk.errors import KeyMissingError
from hitl_desk.reading import LOCK, NO_DESK_KEY, Readable
from tests.tui.snapshot_data import request
from tui.reader import label, markdown

ASKED = request(1, "cursor", "Merge **it**?", minutes_ago=1)


def test_a_plain_request_has_no_label_and_its_prompt_is_the_markdown() -> None:
    view = Readable(ASKED)
    assert (label(view), markdown(view)) == ("", "Merge **it**?")


def test_a_sealed_request_is_labelled_e2ee_and_an_unbound_one_unverified() -> None:
    assert label(Readable(ASKED, sealed=True)) == f"{LOCK} E2EE"
    assert label(Readable(ASKED, sealed=True, bound=False)) == f"{LOCK} E2EE, unverified envelope"
    assert markdown(Readable(ASKED, sealed=True, bound=False)) == "Merge **it**?"


def test_an_unreadable_request_shows_why_instead_of_its_text() -> None:
    view = Readable(ASKED, sealed=True, problem="no desk key on this approver",
                    error=KeyMissingError(NO_DESK_KEY))
    assert label(view) == f"{LOCK} cannot read"
    assert markdown(view) == f"**{LOCK} cannot read: no desk key on this approver**\n\n{NO_DESK_KEY}"
