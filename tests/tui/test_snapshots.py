"""SVG snapshots of every screen at 80x24, with a fixed clock and fixed ids (no relay needed).

The app runs offline (``client=None``) on a ``DeskState`` built by ``snapshot_data``; what it
shows is exactly what a connected desk with that state shows.  Update with ``--snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from hitl_desk.client import StreamState
from tests.tui import snapshot_data as data
from tui.app import HitlDeskApp
from tui.clock import fixed_clock
from tui.screens.modals import KeyCreatedModal

SIZE = (80, 24)
Snap = Callable[..., bool]


def desk_app(*, empty: bool = False) -> HitlDeskApp:
    """The app on fixed data, stopped clock."""
    return HitlDeskApp(None, url=data.URL, clock=fixed_clock(data.NOW), state=data.desk_state(empty=empty))


def sealed_app(home: Path) -> HitlDeskApp:
    """The app with encrypted requests, its home holding the fixed desk key."""
    return HitlDeskApp(None, url=data.URL, clock=fixed_clock(data.NOW), state=data.sealed_state(),
                       settings=data.desk_home(home))


def keys(*pressed: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A ``run_before`` that presses keys and lets the app settle."""
    async def run_before(pilot: Pilot[Any]) -> None:
        for key in pressed:
            await pilot.press(key)
            await pilot.pause()
    return run_before


def test_queue_lists_pending_requests_newest_first(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE)


def test_empty_queue_on_first_run_explains_how_to_connect_an_agent(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(empty=True), terminal_size=SIZE)


def test_request_screen_renders_markdown_and_numbered_choices(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("enter"))


def test_request_screen_without_choices_shows_the_placeholder(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("down", "enter"))


def test_completion_reply_screen(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("down", "down", "enter"))


def test_cancel_request_asks_first(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("enter", "ctrl+x"))


def test_notifications_feed_marks_unread(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("n"))


def test_history_lists_closed_requests(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("h"))


def test_history_filters_by_text(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("h", "slash", *"release"))


def test_agents_screen(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("a"))


def test_new_key_dialog_asks_for_agent_and_label(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("a", "enter"))


def test_keys_screen(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("k"))


def test_revoke_key_asks_first(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("k", "d"))


def test_new_key_is_shown_once_with_a_copy_button(snap_compare: Snap) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("k")
        await pilot.app.push_screen(KeyCreatedModal(data.new_key()))
        await pilot.pause()

    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=run_before)


def test_command_palette_lists_the_screen_actions(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("ctrl+p", *"answer"))


def test_connect_guide(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("ctrl+p", *"connect", "enter"))


def test_top_bar_shows_a_lost_connection(snap_compare: Snap) -> None:
    app = desk_app()
    app.state.connection = StreamState(False, 42, "closed by the relay")
    assert snap_compare(app, terminal_size=SIZE)


def test_queue_marks_encrypted_requests_and_says_which_it_cannot_read(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(sealed_app(tmp_path / "desk"), terminal_size=SIZE)


def test_encrypted_request_screen_shows_the_decrypted_prompt_and_choices(snap_compare: Snap,
                                                                         tmp_path: Path) -> None:
    assert snap_compare(sealed_app(tmp_path / "desk"), terminal_size=SIZE, run_before=keys("enter"))


def test_unverified_envelope_is_flagged_on_its_request_screen(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(sealed_app(tmp_path / "desk"), terminal_size=SIZE,
                        run_before=keys("down", "down", "down", "enter"))


def test_request_that_cannot_be_read_explains_why_and_offers_no_answer(snap_compare: Snap,
                                                                       tmp_path: Path) -> None:
    assert snap_compare(sealed_app(tmp_path / "desk"), terminal_size=SIZE,
                        run_before=keys("down", "down", "down", "down", "enter"))


def test_feed_shows_an_encrypted_notification_decrypted(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(sealed_app(tmp_path / "desk"), terminal_size=SIZE, run_before=keys("n"))


def test_help_lists_the_keys_of_the_screen_below(snap_compare: Snap) -> None:
    assert snap_compare(desk_app(), terminal_size=SIZE, run_before=keys("question_mark"))
