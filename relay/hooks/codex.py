"""Codex CLI's command hooks (PermissionRequest, Stop) and its ``notify`` program.

Codex reads the same ``hookSpecificOutput.decision`` as Claude Code for PermissionRequest (no
decision: its normal approval prompt), and ``{"decision": "block", "reason"}`` from a Stop hook
as the next user prompt.  ``notify`` runs on agent-turn-complete and waits for nothing.
"""

from __future__ import annotations

from hitl_desk.hookwire import HookDecision, HookInput, HookOutput, HookSpecificOutput
from relay.hooks.core import HookCall, ask_approval, ask_review, tell

CLIENT = "codex"
NAME = "Codex"


async def permission_request(call: HookCall, payload: HookInput) -> HookOutput:
    """Allow, deny with a message, or no decision."""
    verdict = await ask_approval(call, payload, client_id=CLIENT)
    if verdict.allow is None:
        return HookOutput()
    decision = (HookDecision(behavior="allow") if verdict.allow
                else HookDecision(behavior="deny", message=verdict.reason))
    return HookOutput(hookSpecificOutput=HookSpecificOutput(hookEventName="PermissionRequest", decision=decision))


async def stop(call: HookCall, payload: HookInput) -> HookOutput:
    """Block with the human's instruction (Codex's next prompt), or let the turn end."""
    instruction = await ask_review(call, payload.last_assistant_message, session=payload.session_id,
                                   active=payload.stop_hook_active)
    return HookOutput() if instruction is None else HookOutput(decision="block", reason=instruction)


async def notify(call: HookCall, payload: HookInput) -> HookOutput:
    """A finished turn, as a notification."""
    said = payload.codex_last_message or payload.last_assistant_message or "(no final message)"
    await tell(call, f"{NAME} finished a turn: {said}")
    return HookOutput()


EVENTS = {"PermissionRequest": permission_request, "Stop": stop, "notify": notify}
