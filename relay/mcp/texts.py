"""The texts the model reads: the server's instructions, the tool and argument descriptions, the prompt.

They are the MCP surface's documentation for the agent; ``relay.mcp.tools`` registers the plain
tools with them and ``relay.mcp.sealed`` the end-to-end encrypted variants.
"""

from __future__ import annotations

from typing import Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

from hitl_desk.models import MAX_CHOICES

INSTRUCTIONS = """\
hitl-desk connects you to a human who answers from their desktop or phone. Use
request_human_input to ask them anything (decisions, approvals, missing information),
notify_human for one-way updates, and notify_human_completion when you finish a task.
Answers can take minutes: the calls wait for them. The tools ending in _e2ee are for an
end-to-end-encrypting proxy; do not call them yourself."""

ASK = """\
Ask the human a question and wait for their answer, which is returned as plain text.

Use it whenever you need a decision, a clarification, approval before a risky or
irreversible step, or information only the human has. The call blocks until the human
answers (this can take many minutes; the default and maximum wait is 15 minutes).
Give `choices` when the answer is one of a few options; the answer is then normally one of
them. The prompt is shown as Markdown: make it self-contained, so the human can answer
without looking anything up.

If nobody answers in time the call fails with an error instead of returning an answer:
never treat that as consent. If the human dismisses the question, the call fails too."""

NOTIFY = """\
Send the human a one-way notification (a progress update, a heads-up, an FYI) and return
at once with a confirmation. The human does not reply; use request_human_input when you
need an answer."""

COMPLETE = """\
Tell the human you finished a task, with a summary of what you did, and wait for their
reply, which is returned as plain text: an acknowledgement such as "looks good", a
correction, or further instructions that you should then carry out. The call blocks until
the human replies (default and maximum wait 15 minutes); if nobody replies in time it fails
with an error."""

COMS_ONLY = """\
From now on, communicate with me only through the hitl-desk tools; I am not watching this
chat, but I see those tools' messages on my desktop and phone.

- To ask me anything (a decision, a clarification, approval, missing information), call
  request_human_input and wait for my answer. Offer `choices` when there are a few clear
  options. Never guess an answer I did not give.
- For progress updates that need no reply, call notify_human.
- When you finish a task, call notify_human_completion with a short summary of what you did,
  then act on my reply: it may ask for changes or give you the next task.
- If a call fails because I did not answer in time, do not assume consent: ask again, or
  stop and wait if the step is risky.
- Keep messages short and self-contained: I may read them on a phone."""

PromptArg = Annotated[str, Field(description="The question, in Markdown; self-contained, so the human can answer "
                                             "without looking anything up.")]
ChoicesArg = Annotated[list[str] | None, Field(
    description=f"Up to {MAX_CHOICES} short answers for the human to pick from, when the answer is one of a few "
                "options.")]
PlaceholderArg = Annotated[str | None, Field(description="A hint shown in the empty answer box, e.g. 'branch name'.")]
AgentNameArg = Annotated[str | None, Field(
    description="Your name as the human sees it (ignored when your API key already names you).")]
TimeoutArg = Annotated[float | None, Field(
    description="Seconds to wait for the answer before the call fails; default and maximum 900.")]
DefaultAnswerArg = Annotated[str | None, Field(
    description="Returned as the answer if nobody answers in time. Leave it out unless proceeding with it "
                "unanswered is truly safe.")]


def tool_hints(title: str) -> ToolAnnotations:
    """The hints every hitl-desk tool carries, honestly: it adds a question or notice to the desk
    (so not read-only, nor idempotent: a second call asks again), deletes or overwrites nothing,
    and reaches only this relay, a closed world. Codex approves tools that are neither destructive
    nor open-world without asking per call, which ``codex exec`` (approval policy "never") needs."""
    return ToolAnnotations(title=title, read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                           open_world_hint=False)

ASK_SEALED = """\
End-to-end encrypted variant of request_human_input, for an encrypting MCP proxy such as
`hitl-cli proxy` or `hitl-desk proxy`, which seals the question on the agent's machine. Not for
direct use: if you can write the question in plain text, call request_human_input instead.

`encrypted_payload` is the standard base64 of a NaCl Box envelope (nonce ‖ ciphertext ‖ MAC),
sealed with the agent's private key for the desk key served at GET /api/v1/devices/public-keys;
its plaintext is JSON such as {"prompt": "...", "choices": ["..."]}. The agent's public key must
be registered first (POST /api/v1/keys/register). The relay cannot read the question.

The call blocks until the human answers (default and maximum wait 15 minutes) and returns the
answer still sealed: base64 of an envelope from the desk key to the agent's key, which holds the
answer as UTF-8 text (or, when the question bound a request_id, a JSON object whose `response`
is the answer). If nobody answers in time, or the human dismisses the question, the call fails
with an error: never treat that as consent."""

NOTIFY_SEALED = """\
End-to-end encrypted variant of notify_human, for an encrypting MCP proxy such as
`hitl-cli proxy` or `hitl-desk proxy`. Not for direct use: if you can write the message in plain
text, call notify_human instead.

`encrypted_payload` is sealed like request_human_input_e2ee's, with plaintext JSON such as
{"message": "..."}. Returns a confirmation at once; the human does not reply."""

PayloadArg = Annotated[str, Field(
    description="Standard base64 of a NaCl Box envelope (24-byte nonce, ciphertext, 16-byte MAC) sealed by the "
                "agent's key for the desk key.")]
RequestIdArg = Annotated[str | None, Field(
    description="The request's id, 'req_' and 20 hex digits, when the proxy bound it inside the envelope; "
                "the relay picks one otherwise.")]
