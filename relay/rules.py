"""Always-allow rules: which tool calls the relay answers "Allow once" without asking.

A rule is scoped exactly: one agent (by id), one tool (by its exact name), and a pattern the
call's argument must match (``hitl_desk.rules`` describes the kinds).  The checks here lean to
refusing: a prefix rule matches only a command line that is one simple command, with none of
the characters a shell reads as a second command, a substitution or a redirection; a path
rule matches only a path that, resolved lexically (``..`` collapsed, relative paths read from
the agent's working directory), lies inside the rule's directory.
"""

from __future__ import annotations

import posixpath
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from hitl_desk.action import ToolAction
from hitl_desk.audit import AuditEntry
from hitl_desk.errors import InvalidRequestError
from hitl_desk.models import Agent, HitlRequest
from hitl_desk.rules import Rule, RuleCreate, RuleKind
from relay.store import Store

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (newline and carriage return among them): never in a matched argument."""
_SHELL_SPECIAL = re.compile("[;&|`$()<>\\\\\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
"""What makes a command line more than one simple command, or lets it run or write anything else:
separators (``;``, ``&``, ``|``, newline), substitutions (``$``, backticks, parentheses),
redirections (``<``, ``>``), escapes (backslash) and control characters.  Tab stays: it separates words."""
_BLANKS = " \t"
MAX_AUDIT_PAGE = 500


def new_rule_id() -> str:
    """A fresh rule id."""
    return "rule_" + secrets.token_hex(6)


def simple_command(text: str) -> bool:
    """Whether ``text`` is one simple command: no separators, substitutions or redirections."""
    return _SHELL_SPECIAL.search(text) is None


def normal_directory(path: str) -> str | None:
    """An absolute path with ``..``, ``.`` and repeated slashes resolved; None if it is not absolute."""
    if not path.startswith("/") or _CONTROL.search(path):
        return None
    return "/" + posixpath.normpath(path).lstrip("/")


def matches(kind: RuleKind, pattern: str, action: ToolAction) -> bool:
    """Whether ``action``'s argument matches a rule's pattern (its agent and tool already match)."""
    argument = action.argument
    if kind == "exact":
        return argument == pattern
    if kind == "prefix":
        command = argument.lstrip(_BLANKS)
        if not simple_command(command) or not command.startswith(pattern):
            return False
        return len(command) == len(pattern) or command[len(pattern)] in _BLANKS
    if not argument or argument.startswith("~") or _CONTROL.search(argument):
        return False
    if not argument.startswith("/"):
        if action.cwd is None or not action.cwd.startswith("/"):
            return False  # a relative path with no absolute directory to read it from
        argument = f"{action.cwd}/{argument}"
    path = normal_directory(argument)
    return path is not None and (pattern == "/" or path == pattern or path.startswith(pattern + "/"))


def checked_pattern(kind: RuleKind, pattern: str) -> str:
    """The pattern as stored (a prefix trimmed, a directory normalised); ``InvalidRequestError`` if unusable."""
    if kind == "prefix":
        trimmed = pattern.strip(_BLANKS)
        if trimmed and simple_command(trimmed):
            return trimmed
        problem = "a prefix is a command's leading words, without ; & | $ ` ( ) < > \\ or control characters"
    elif kind == "path":
        directory = normal_directory(pattern)
        if directory is not None:
            return directory
        problem = "a path rule names an absolute directory (/home/me/project)"
    else:
        return pattern
    raise InvalidRequestError(f"pattern: {problem}.", details=[{"loc": ["body", "pattern"], "msg": problem}])


class RuleBook:
    """The relay's always-allow rules, kept in the store; the broker asks it before the human."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    async def match(self, agent_id: str, action: ToolAction) -> Rule | None:
        """The oldest live rule of this agent and tool that matches the action, if any."""
        for rule in await self.store.rules_for(agent_id, action.tool):
            if matches(rule.kind, rule.pattern, action):
                return rule
        return None

    async def add(self, agent: Agent, body: RuleCreate, created_by: str) -> Rule:
        """Add a rule the owner wrote."""
        rule = self._new(agent.id, agent.name, body.tool, body.kind, checked_pattern(body.kind, body.pattern),
                         created_by)
        await self.store.add_rule(rule)
        return rule

    def always_allow(self, request: HitlRequest, by: str) -> Rule | None:
        """The exact rule an "Always allow" answer to ``request`` makes (None: it is no tool call)."""
        if request.action is None or request.encrypted:
            return None
        return self._new(request.agent_id, request.agent_name, request.action.tool, "exact",
                         request.action.argument, by, source_request=request.id)

    def _new(self, agent_id: str, agent_name: str, tool: str, kind: RuleKind, pattern: str, by: str, *,
             source_request: str | None = None) -> Rule:
        return Rule(id=new_rule_id(), agent_id=agent_id, agent_name=agent_name, tool=tool, kind=kind,
                    pattern=pattern, created_at=datetime.fromtimestamp(self.clock(), UTC), created_by=by,
                    source_request=source_request)

    async def revoke(self, rule_id: str, by: str) -> Rule:
        """Revoke a rule at once; requests it answered keep its id in their record."""
        return await self.store.revoke_rule(rule_id, self.clock(), by)

    async def list_rules(self, *, include_revoked: bool = False) -> list[Rule]:
        """The rules, newest first."""
        return await self.store.list_rules(include_revoked=include_revoked)

    async def audit(self, after: int, limit: int) -> list[AuditEntry]:
        """A page of the audit chain (``hitl_desk.audit``)."""
        return await self.store.audit_page(after, min(limit, MAX_AUDIT_PAGE))
