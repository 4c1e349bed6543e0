"""One broker behind every agent hook point: approvals, stop reviews and notifications.

A client module (``claude``, ``codex``, ``gemini``) reads its client's hook JSON, asks through
these functions and writes its client's answer.  What they share:

- An approval is an input request with the choices of ``hitl_desk.hookwire``; ``Allow once``
  and ``Always allow`` allow, ``Deny`` or any other text denies (the text is the reason the
  agent is told).  An approval nobody answers in time, or that is dismissed, is *no decision*:
  the client falls back to its own prompt.  Nothing here ever allows by default.
- The question expires before the client's hook timeout (the ``timeout`` the installed hook
  declares, passed in the URL or on the command line), so the hook always answers in time.
- A stop review blocks at most ``MAX_CONSECUTIVE_BLOCKS`` times in a row per session: Claude
  Code ends the turn anyway after 8, and a review the agent will not act on wastes the human's time.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from hitl_desk.action import MAX_ARGUMENT_CHARS, MAX_CWD_CHARS, MAX_TOOL_CHARS, ToolAction
from hitl_desk.hookwire import (
    ALLOW_ONCE,
    ALWAYS_ALLOW,
    APPROVAL_CHOICES,
    CONTINUE,
    DENY,
    DONE,
    REVIEW_CHOICES,
    HookInput,
)
from hitl_desk.models import MAX_PROMPT_CHARS, Agent, InputRequestCreate, NotificationCreate
from relay.api import wait_attended
from relay.context import BROKER
from relay.hooks.render import approval_prompt, argument, review_prompt

DEFAULT_TIMEOUT = 570.0
"""Seconds an approval waits when the hook URL names none: inside Claude Code's default 600 s."""
MAX_HOOK_TIMEOUT = 24 * 3600.0
"""Accepted in the URL; the broker still caps the question at the relay's ``max_timeout``."""
MAX_CONSECUTIVE_BLOCKS = 7
"""Stop reviews answered Continue in a row, per session, before the relay lets the agent stop."""
DENIED = "The human denied this tool call."
CONTINUED = "The human reviewed your work and asks you to continue."
_SESSIONS_KEPT = 1024


class HookQuery(BaseModel):
    """Query of the hook routes: how long the question may wait, below the hook's own timeout."""

    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, le=MAX_HOOK_TIMEOUT,
                           description="Seconds before the question expires and the client decides alone "
                                       "(the relay's own cap, 900 s by default, applies too).")


@dataclass(frozen=True)
class HookCall:
    """One hook invocation: who calls, from which client, and how long it may wait."""

    request: web.Request
    agent: Agent
    client: str
    """The client as the human reads it (``Claude Code``)."""
    timeout: float


@dataclass(frozen=True)
class Verdict:
    """The human's decision on a tool call; ``allow`` None is no decision (unanswered)."""

    allow: bool | None
    always: bool = False
    reason: str | None = None


NO_DECISION = Verdict(allow=None)


class StopStreaks:
    """Consecutive Continue answers per (client, session), the oldest sessions forgotten first."""

    def __init__(self) -> None:
        self._blocks: OrderedDict[tuple[str, str], int] = OrderedDict()

    def get(self, key: tuple[str, str]) -> int:
        """Blocks in a row so far."""
        return self._blocks.get(key, 0)

    def set(self, key: tuple[str, str], count: int) -> None:
        """Record the streak (0 forgets it)."""
        self._blocks.pop(key, None)
        if count:
            self._blocks[key] = count
            while len(self._blocks) > _SESSIONS_KEPT:
                self._blocks.popitem(last=False)


STREAKS: web.AppKey[StopStreaks] = web.AppKey("hook_stop_streaks", StopStreaks)


def _fit(prompt: str) -> str:
    if len(prompt) <= MAX_PROMPT_CHARS:
        return prompt
    return prompt[:MAX_PROMPT_CHARS - 40] + "\n\n… (cut: too long to show)"


async def _ask(call: HookCall, prompt: str, choices: list[str], placeholder: str,
               **extra: Any) -> str | None:
    """Ask and wait; the answer, or None when nobody answered in time (or the request was dismissed)."""
    broker = call.request.app[BROKER]
    body = InputRequestCreate(prompt=_fit(prompt), choices=choices, placeholder_text=placeholder,
                              timeout_seconds=call.timeout, **extra)
    created = await broker.create_input(call.agent, body, attended=True)
    done = await wait_attended(call.request, created.id, call.timeout + 1.0, current=created)
    if done is None or done.status != "answered" or done.response is None:
        return None
    return done.response


def tool_action(client: str, tool: str, tool_input: dict[str, Any], cwd: str | None,
                session: str | None) -> ToolAction | None:
    """The ``action`` always-allow rules match: the command line or file path, else the whole input
    as compact JSON (an "Always allow" then covers only that exact call).  None when it does not
    fit a rule's limits: a cut argument could match a different call."""
    text = argument(tool, tool_input) or json.dumps(tool_input, ensure_ascii=False, separators=(",", ":"),
                                                    sort_keys=True)
    if not tool or len(tool) > MAX_TOOL_CHARS or len(text) > MAX_ARGUMENT_CHARS:
        return None
    return ToolAction(tool=tool, argument=text, cwd=cwd if cwd and len(cwd) <= MAX_CWD_CHARS else None,
                      session=(session or "")[:MAX_TOOL_CHARS] or None, client=client)


async def ask_approval(call: HookCall, payload: HookInput, *, client_id: str,
                       suggestions: bool | None = None) -> Verdict:
    """Ask the human whether the hook's tool call may run.

    ``Always allow`` is offered when the relay can keep it as a rule (the call fits one) and,
    where the client has its own rules (``suggestions`` not None: Claude Code), only when the
    client offered some: the answer then returns them to it.
    """
    tool, tool_input, cwd, session = payload.tool_name or "?", payload.tool_input or {}, payload.cwd, payload.session_id
    action = tool_action(client_id, tool, tool_input, cwd, session)
    can_always = action is not None and suggestions is not False
    choices = list(APPROVAL_CHOICES if can_always else APPROVAL_CHOICES[:2])
    answer = await _ask(call, approval_prompt(call.client, tool, tool_input, cwd, session), choices,
                        "Or type why not (the agent is told)", action=action)
    return verdict(answer, can_always=can_always)


def verdict(answer: str | None, *, can_always: bool) -> Verdict:
    """What an answer means: exact choices allow; anything else denies, with its text as the reason."""
    if answer is None:
        return NO_DECISION
    if answer == ALLOW_ONCE:
        return Verdict(allow=True)
    if answer == ALWAYS_ALLOW:
        return Verdict(allow=True, always=can_always)
    if answer == DENY or not answer.strip():
        return Verdict(allow=False, reason=DENIED)
    return Verdict(allow=False, reason=answer)


async def ask_review(call: HookCall, message: str | None, *, session: str | None, active: bool) -> str | None:
    """Show the agent's last message; the instruction to continue with, or None to let it stop."""
    streaks = call.request.app[STREAKS]
    key = (call.client, session or "")
    blocks = streaks.get(key) if active else 0
    if blocks >= MAX_CONSECUTIVE_BLOCKS:
        streaks.set(key, 0)
        await tell(call, f"{call.client} stopped after {blocks} continues in a row; it would not take another "
                         "(its limit). Start a new turn to go on.")
        return None
    answer = await _ask(call, review_prompt(call.client, message, session), list(REVIEW_CHOICES),
                        "Or type what to do next (the agent is told)")
    if answer is None or answer == DONE or not answer.strip():
        streaks.set(key, 0)
        return None
    streaks.set(key, blocks + 1)
    return CONTINUED if answer == CONTINUE else answer


async def tell(call: HookCall, message: str) -> None:
    """Send the human a notification."""
    text = _fit(message.strip() or f"{call.client} sent an empty notification.")
    await call.request.app[BROKER].notify(call.agent, NotificationCreate(message=text))
