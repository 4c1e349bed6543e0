"""A hook's approval, review and notification carry hostile agent text (tool input, the agent's
last message): the TUI and the CLI show it escaped, its Markdown cannot break out of the code
block it is shown in, and answering by number still gives the hook its exact choice."""

from __future__ import annotations

import asyncio
import sys

import pytest

from hitl_desk.client import RelayClient
from tests.conftest import LiveRelay
from tests.core.test_cli_e2ee import env_for
from tests.core.test_cli_hostile import assert_terminal_safe
from tests.deadline import until
from tests.hooks.payloads import CLAUDE, hook_call, payload, post_hook
from tests.hostile import HOSTILE
from tests.tui.sync import first_sync
from tests.tui.test_hostile import SIZE, assert_clean, drawn
from tui.app import HitlDeskApp
from tui.screens.request import RequestScreen

BREAKOUT = "```\n# PWNED HEADING\n[click](https://example.invalid)\n````"
"""Tool input that would end a three-backtick block and become a heading and a link."""
HOSTILE_COMMAND = BREAKOUT + "\n" + "\n".join(HOSTILE.values())


def approval_body() -> dict[str, object]:
    return payload(CLAUDE, "PermissionRequest", tool_name="Bash",
                   tool_input={"command": HOSTILE_COMMAND, "description": HOSTILE["bidi_override"]},
                   cwd="/tmp/\x1b[2Kproj\nfake line", session_id=HOSTILE["carriage_return"])


@pytest.mark.slow  # a TUI session: about 3 s
async def test_the_tui_shows_a_hostile_approval_escaped_and_its_number_key_allows(relay: LiveRelay,
                                                                                   owner: RelayClient) -> None:
    key = (await owner.create_api_key(HOSTILE["markup_style"])).api_key
    await post_hook(relay, key, "claude-code", "Notification",
                    payload(CLAUDE, "Notification", message=HOSTILE["osc52_clipboard"], title=HOSTILE["title"]))
    app = HitlDeskApp(owner, url=relay.url)
    async with app.run_test(size=SIZE) as pilot:
        await first_sync(app, pilot)
        async with hook_call(relay, key, "claude-code", "PermissionRequest", approval_body()) as call:
            await until(lambda: app.state.pending and not app.state.announce, "the approval listed", pilot=pilot)
            await pilot.pause()
            assert_clean(app, "the queue with a hostile approval")
            await pilot.press("enter")
            assert isinstance(app.screen, RequestScreen)
            await pilot.pause()
            assert_clean(app, "the approval's request screen")
            assert "# PWNED HEADING" in drawn(app)  # still inside the code block, '#' and all
            await pilot.press("1")
            assert await asyncio.wait_for(call, 10) == (200, {"hookSpecificOutput": {
                "hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}})
        async with hook_call(relay, key, "claude-code", "Stop",
                             payload(CLAUDE, "Stop", last_assistant_message="\n".join(HOSTILE.values()))) as call:
            await until(lambda: app.state.pending and not isinstance(app.screen, RequestScreen),
                        "the review listed", pilot=pilot)
            await pilot.press("enter")
            await pilot.pause()
            assert_clean(app, "the review's request screen")
            await pilot.press("1")
            assert await asyncio.wait_for(call, 10) == (200, {})
        await pilot.press("n")
        await until(lambda: app.current_mode == "feed", "the feed", pilot=pilot)
        await pilot.pause()
        assert_clean(app, "the feed with a hostile notification")


async def test_pending_prints_a_hostile_approval_on_one_escaped_line(relay: LiveRelay, owner: RelayClient) -> None:
    key = (await owner.create_api_key("claude-code")).api_key
    async with hook_call(relay, key, "claude-code", "PermissionRequest", approval_body()):
        await until(lambda: owner.list_requests("pending"), "the approval")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hitl_desk.cli", "pending", env=env_for(relay.home, relay.url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        await owner.cancel((await owner.list_requests("pending"))[0].id, "dismissed")
    text = assert_terminal_safe(out, "pending")
    assert proc.returncode == 0, err
    assert len(text.splitlines()) == 1 and "[Allow once | Deny | Always allow]" in text
