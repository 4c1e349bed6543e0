"""A tool call an agent asks the human to approve, and the choices every approval offers.

An agent hook (Claude Code's ``PermissionRequest``, Codex's, Gemini's ``BeforeTool``) turns a
tool call into an input request carrying a ``ToolAction``: the tool's name and the one string
an always-allow rule is matched against (a Bash command line, a file path).  The human answers
with one of ``APPROVAL_CHOICES``; "Always allow" also makes the relay store a rule for exactly
that agent, tool and argument, and later matching requests are answered "Allow once" at once.
All of it is agent text: shown only through ``hitl_desk.display``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from hitl_desk.display import visible_line
from hitl_desk.wire import WireModel

ALLOW_ONCE = "Allow once"
DENY = "Deny"
ALWAYS_ALLOW = "Always allow"
APPROVAL_CHOICES: tuple[str, ...] = (ALLOW_ONCE, DENY, ALWAYS_ALLOW)
"""The choices of an approval, in the order approvers show them."""

MAX_TOOL_CHARS = 200
MAX_ARGUMENT_CHARS = 8000
MAX_CWD_CHARS = 4096
SUMMARY_CHARS = 300

ToolName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOOL_CHARS)]
Argument = Annotated[str, StringConstraints(max_length=MAX_ARGUMENT_CHARS)]


class ToolAction(WireModel):
    """The tool call an approval request is about; what always-allow rules match."""

    tool: ToolName = Field(description="The tool's name exactly as the agent names it (Bash, Edit, …).")
    argument: Argument = Field(
        default="", description="The Bash command line or the file path a rule's pattern is matched against.")
    cwd: Annotated[str, StringConstraints(max_length=MAX_CWD_CHARS)] | None = Field(
        default=None, description="The agent's working directory (relative paths are read from it).")
    session: Annotated[str, StringConstraints(max_length=MAX_TOOL_CHARS)] | None = None
    client: Annotated[str, StringConstraints(max_length=MAX_TOOL_CHARS)] | None = Field(
        default=None, description="The agent program (claude-code, codex, gemini).")

    def summary(self, limit: int = SUMMARY_CHARS) -> str:
        """``tool: argument`` cut to ``limit`` characters (raw agent text: escape it to show it)."""
        text = f"{self.tool}: {self.argument}" if self.argument else self.tool
        return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(action: ToolAction, limit: int = SUMMARY_CHARS) -> str:
    """The action as one escaped line for approvers: ``Bash: git status  (in /work)``; a newline
    or control character in the argument shows as its escape, never as a break."""
    where = f"  (in {visible_line(action.cwd[-80:])})" if action.cwd else ""
    return visible_line(action.summary(limit)) + where
