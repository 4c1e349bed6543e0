"""Gemini CLI's command hooks: BeforeTool allow/deny, AfterAgent retry, Notification.

``{"decision": "deny", "reason"}`` from BeforeTool stops the tool and tells the agent why; from
AfterAgent it rejects the answer and sends the reason as the next prompt.  An empty object lets
Gemini CLI go on as it would (its own confirmation).  Its hook timeout is in milliseconds.
"""

from __future__ import annotations

from hitl_desk.hookwire import HookInput, HookOutput
from relay.hooks.core import HookCall, ask_approval, ask_review, tell

CLIENT = "gemini"
NAME = "Gemini CLI"


async def before_tool(call: HookCall, payload: HookInput) -> HookOutput:
    """Allow, deny with a reason, or no decision."""
    verdict = await ask_approval(call, payload, client_id=CLIENT)
    if verdict.allow is None:
        return HookOutput()
    return HookOutput(decision="allow") if verdict.allow else HookOutput(decision="deny", reason=verdict.reason)


async def after_agent(call: HookCall, payload: HookInput) -> HookOutput:
    """Reject the answer with the human's instruction as the new prompt, or accept it."""
    instruction = await ask_review(call, payload.prompt_response, session=payload.session_id,
                                   active=payload.stop_hook_active)
    return HookOutput() if instruction is None else HookOutput(decision="deny", reason=instruction)


async def notification(call: HookCall, payload: HookInput) -> HookOutput:
    """Pass the alert on; Gemini CLI lets this hook decide nothing."""
    await tell(call, f"{NAME}: {payload.message or payload.notification_type or 'needs you'}")
    return HookOutput()


EVENTS = {"BeforeTool": before_tool, "AfterAgent": after_agent, "Notification": notification}
