"""Always-allow rules on the wire: what the owner adds, lists and revokes.

A rule belongs to one agent and one tool (exactly), and matches a request's
``ToolAction.argument`` by its ``kind``:

- ``exact``: the argument is the pattern, character for character ("Always allow" makes these);
- ``prefix``: a command line that starts with the pattern's words, and is one simple command:
  no ``;``, ``&``, ``|``, ``$``, backticks, parentheses, redirections or control characters, so
  a rule for ``git status`` never allows ``git status; rm -rf ~``;
- ``path``: a file path inside the pattern's directory once ``..`` is resolved (lexically; the
  relay cannot see the agent's symbolic links).

The matching itself is the relay's (``relay.rules``); approvers only show and revoke rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from hitl_desk.action import MAX_ARGUMENT_CHARS, ToolName
from hitl_desk.wire import WireModel

RuleKind = Literal["exact", "prefix", "path"]
RULE_ID_PATTERN = r"^rule_[0-9a-f]{12}$"
RULE_ANSWER_PREFIX = "rule:"
"""``answered_by`` of a request a rule answered: ``rule:<id>``."""


class RuleCreate(WireModel):
    """Body of ``POST /api/v1/rules``: allow one agent's calls of one tool matching a pattern."""

    agent: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="The agent's name (registered if new).")
    tool: ToolName = Field(description="The tool's name, matched exactly.")
    kind: RuleKind = Field(description="exact, prefix (a command's leading words) or path (a directory).")
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ARGUMENT_CHARS)]


class Rule(BaseModel):
    """An always-allow rule as the relay keeps it."""

    id: str
    agent_id: str
    agent_name: str
    tool: str
    kind: RuleKind
    pattern: str
    created_at: datetime
    created_by: str = Field(description="Who made it: the owner, or the answer 'Always allow' (by whom).")
    source_request: str | None = Field(default=None, description="The request answered 'Always allow', if any.")
    revoked_at: datetime | None = None


class RuleList(BaseModel):
    """Answer of ``GET /api/v1/rules``."""

    rules: list[Rule]


def rule_of(answered_by: str | None) -> str | None:
    """The id of the rule that answered, from a request's ``answered_by`` (None: not a rule)."""
    if answered_by and answered_by.startswith(RULE_ANSWER_PREFIX):
        return answered_by[len(RULE_ANSWER_PREFIX):]
    return None
