"""Agent hooks on the wire: what Claude Code, Codex and Gemini CLI send a hook, what they read
back, and the choices a hook's question offers the human.

The inputs follow each client's documented hook JSON (the fields the relay reads; the rest is
ignored).  The outputs are built with ``exclude_none``: a client reads a missing field as "no
opinion", never as a decision, so the empty object is the safe answer that hands control back
to the client's own flow.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hitl_desk.action import ALLOW_ONCE, ALWAYS_ALLOW, APPROVAL_CHOICES, DENY

__all__ = [
    "ALLOW_ONCE", "ALWAYS_ALLOW", "APPROVAL_CHOICES", "CONTINUE", "DENY", "DONE", "HOOK_CLIENTS", "REVIEW_CHOICES",
    "HookDecision", "HookInput", "HookOutput", "HookSpecificOutput",
]

# The approval choices (ALLOW_ONCE, DENY, ALWAYS_ALLOW) live with the always-allow rules in
# hitl_desk.action; re-exported here for the hooks.  Any other answer to an approval is a Deny
# whose text the agent is told.

DONE = "Done"
CONTINUE = "Continue"
REVIEW_CHOICES: tuple[str, str] = (DONE, CONTINUE)
"""The choices of a stop review.  Any other answer is Continue with that text as the instruction."""

HookClient = Literal["claude-code", "codex", "gemini"]
HOOK_CLIENTS: tuple[HookClient, ...] = ("claude-code", "codex", "gemini")


class HookInput(BaseModel):
    """The JSON a client hands a hook (stdin of a command hook, body of a Claude Code HTTP hook).

    One model for every event: each event fills the fields it has.  Codex's ``notify`` program
    gets kebab-case keys (``last-assistant-message``); they are read through aliases.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    hook_event_name: str | None = None
    session_id: str | None = None
    cwd: str | None = None
    tool_name: str | None = None
    tool_input: dict[str, Any] | None = None
    permission_suggestions: list[dict[str, Any]] | None = Field(
        default=None, description="Claude Code: rules the user could add instead of answering each time.")
    stop_hook_active: bool = False
    last_assistant_message: str | None = None
    prompt_response: str | None = Field(default=None, description="Gemini CLI AfterAgent: the agent's answer.")
    message: str | None = None
    title: str | None = None
    notification_type: str | None = None
    type: str | None = Field(default=None, description="Codex notify: agent-turn-complete.")
    thread_id: str | None = Field(default=None, alias="thread-id")
    codex_last_message: str | None = Field(default=None, alias="last-assistant-message")


class HookDecision(BaseModel):
    """A PermissionRequest decision (Claude Code and Codex): allow, or deny with a message."""

    behavior: Literal["allow", "deny"]
    # camelCase fields: the clients' own spelling
    updatedPermissions: list[dict[str, Any]] | None = None
    message: str | None = None


class HookSpecificOutput(BaseModel):
    """Claude Code's and Codex's ``hookSpecificOutput``."""

    hookEventName: str
    decision: HookDecision | None = None
    permissionDecision: Literal["allow", "deny"] | None = None
    permissionDecisionReason: str | None = None


class HookOutput(BaseModel):
    """What a hook answers; the empty object means no decision (the client's own flow goes on)."""

    hookSpecificOutput: HookSpecificOutput | None = None
    decision: Literal["block", "allow", "deny"] | None = None
    reason: str | None = None

    def wire(self) -> str:
        """The JSON the client reads: only the fields that say something."""
        return self.model_dump_json(exclude_none=True)
