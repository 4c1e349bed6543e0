"""Claude Code's hooks: PermissionRequest and PreToolUse approvals, Stop reviews, Notification.

The same JSON arrives by HTTP hook (the body) or through ``hitl-desk hook claude-code EVENT``
(stdin); the answer is the JSON Claude Code reads from either.  An empty object is no decision:
Claude Code goes on with its own permission prompt (in a non-interactive run: denies).
"""

from __future__ import annotations

from hitl_desk.hookwire import HookDecision, HookInput, HookOutput, HookSpecificOutput
from relay.hooks.core import HookCall, ask_approval, ask_review, tell

CLIENT = "claude-code"
NAME = "Claude Code"


async def permission_request(call: HookCall, payload: HookInput) -> HookOutput:
    """Allow (with the offered rules when the human chose Always allow), deny with a message, or no decision."""
    offered = payload.permission_suggestions or None
    verdict = await ask_approval(call, payload, client_id=CLIENT, suggestions=offered is not None)
    if verdict.allow is None:
        return HookOutput()
    if verdict.allow:
        decision = HookDecision(behavior="allow", updatedPermissions=offered if verdict.always else None)
    else:
        decision = HookDecision(behavior="deny", message=verdict.reason)
    return HookOutput(hookSpecificOutput=HookSpecificOutput(hookEventName="PermissionRequest", decision=decision))


async def pre_tool_use(call: HookCall, payload: HookInput) -> HookOutput:
    """``permissionDecision`` allow or deny with its reason, or no decision."""
    verdict = await ask_approval(call, payload, client_id=CLIENT, suggestions=False)
    if verdict.allow is None:
        return HookOutput()
    return HookOutput(hookSpecificOutput=HookSpecificOutput(
        hookEventName="PreToolUse", permissionDecision="allow" if verdict.allow else "deny",
        permissionDecisionReason=None if verdict.allow else verdict.reason))


async def stop(call: HookCall, payload: HookInput) -> HookOutput:
    """Block with the human's instruction as the reason (Claude goes on with it), or let Claude stop."""
    instruction = await ask_review(call, payload.last_assistant_message, session=payload.session_id,
                                   active=payload.stop_hook_active)
    return HookOutput() if instruction is None else HookOutput(decision="block", reason=instruction)


async def notification(call: HookCall, payload: HookInput) -> HookOutput:
    """Pass the notification on; it decides nothing."""
    title = f"{payload.title}: " if payload.title else ""
    await tell(call, f"{NAME}: {title}{payload.message or payload.notification_type or 'needs you'}")
    return HookOutput()


EVENTS = {"PermissionRequest": permission_request, "PreToolUse": pre_tool_use, "Stop": stop,
          "Notification": notification}
