"""``visible`` and ``visible_line``: agent text cannot act on the human's screen."""

from __future__ import annotations

import pytest

from hitl_desk.display import visible, visible_line
from tests.hostile import FORBIDDEN, HOSTILE


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_no_control_or_bidi_character_survives(name: str) -> None:
    shown = visible_line(HOSTILE[name])
    assert not FORBIDDEN.search(shown)
    assert "\n" not in shown and "\t" not in shown


def test_escapes_are_readable_and_the_rest_is_untouched() -> None:
    assert visible("Run tests?\x1b]0;t\x07") == "Run tests?\\x1b]0;t\\x07"
    assert visible("yes\u202eon") == "yes\\u202eon"
    assert visible("c1\x9bJ") == "c1\\x9bJ"
    assert visible("naïve café — 🔒 日本語") == "naïve café — 🔒 日本語"


def test_visible_keeps_lines_and_tabs_but_not_carriage_returns() -> None:
    assert visible("a\n\tb\rc") == "a\n\tb\\x0dc"
    assert visible_line("a\n\tb") == "a\\x0a\\x09b"


def test_lone_surrogates_become_escapes_a_terminal_can_encode() -> None:
    shown = visible_line("x\ud800y")
    assert shown == "x\\ud800y"
    shown.encode("utf-8")
