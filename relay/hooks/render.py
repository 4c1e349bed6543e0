"""A tool call as the human reads it: the command, the file and a diff, or compact JSON.

Approvers show a prompt as Markdown, and every byte of a tool call is the agent's: each piece
goes inside a code span or a fenced block whose fence is longer than any run of backticks in
it, so nothing the agent wrote can become a heading, a link or the end of its own block.
Control characters are left for the approvers' ``visible`` to escape, except in one-line spans,
where a newline would end the span.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from hitl_desk.display import visible_line

SHELL_TOOLS = frozenset({"Bash", "run_shell_command", "shell", "local_shell", "exec_command"})
"""Tools whose input is a command line (Claude Code, Gemini CLI, Codex)."""
EDIT_TOOLS = frozenset({"Edit", "MultiEdit", "replace"})
WRITE_TOOLS = frozenset({"Write", "write_file", "NotebookEdit"})
PATH_KEYS = ("file_path", "path", "notebook_path", "absolute_path", "dir_path")
MAX_BLOCK_CHARS = 6_000
"""Past this a rendering is cut (the prompt cap is 20,000 characters, and a human reads less)."""
MAX_DIFF_LINES = 60
_BACKTICKS = re.compile(r"`+")


def code_span(text: str) -> str:
    """``text`` as one inline code span that it cannot close, on one line."""
    text = visible_line(text)
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, info: str = "") -> str:
    """``text`` as a fenced block that no line of it can close."""
    if len(text) > MAX_BLOCK_CHARS:
        text = text[:MAX_BLOCK_CHARS] + f"\n… ({len(text) - MAX_BLOCK_CHARS:,} more characters)"
    fence = "`" * max(3, max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def argument(tool: str, tool_input: dict[str, Any]) -> str:
    """What an always-allow rule matches for this call: the command line, else the file path, else ''."""
    if tool in SHELL_TOOLS and "command" in tool_input:
        command = tool_input["command"]
        return " ".join(command) if isinstance(command, list) else _text(command)
    for key in PATH_KEYS:
        if isinstance(tool_input.get(key), str):
            return str(tool_input[key])
    return ""


def _diff(old: str, new: str) -> tuple[list[str], int, int]:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))[2:]
    added = sum(1 for line in lines if line.startswith("+"))
    removed = sum(1 for line in lines if line.startswith("-"))
    return lines, added, removed


def _edits(tool_input: dict[str, Any]) -> list[tuple[str, str]]:
    if isinstance(tool_input.get("edits"), list):  # MultiEdit
        return [(_text(e.get("old_string", "")), _text(e.get("new_string", "")))
                for e in tool_input["edits"] if isinstance(e, dict)]
    return [(_text(tool_input.get("old_string", "")), _text(tool_input.get("new_string", "")))]


def _render_edit(path: str, tool_input: dict[str, Any]) -> list[str]:
    diff: list[str] = []
    added = removed = 0
    for old, new in _edits(tool_input):
        lines, plus, minus = _diff(old, new)
        diff += lines
        added, removed = added + plus, removed + minus
    shown = diff[:MAX_DIFF_LINES]
    if len(diff) > MAX_DIFF_LINES:
        shown.append(f"… {len(diff) - MAX_DIFF_LINES} more diff lines")
    every = " (every occurrence)" if tool_input.get("replace_all") else ""
    return [f"File {code_span(path)}: +{added} −{removed} lines{every}", "", code_block("\n".join(shown), "diff")]


def _render_write(path: str, tool_input: dict[str, Any]) -> list[str]:
    content = _text(tool_input.get("content", tool_input.get("new_source", "")))
    lines = content.splitlines()
    head = "\n".join(lines[:20]) + (f"\n… {len(lines) - 20} more lines" if len(lines) > 20 else "")
    size = len(content.encode("utf-8", "surrogatepass"))
    return [f"File {code_span(path)}: {len(lines)} lines, {size:,} bytes", "", code_block(head)]


def render(tool: str, tool_input: dict[str, Any]) -> list[str]:
    """Markdown lines showing what the call would do."""
    path = argument(tool, tool_input)
    if tool in SHELL_TOOLS and "command" in tool_input:
        lines = [code_block(path, "sh")]
        if isinstance(tool_input.get("description"), str) and tool_input["description"].strip():
            lines += ["", f"Why: {code_span(tool_input['description'])}"]
        return lines
    if tool in EDIT_TOOLS and path:
        return _render_edit(path, tool_input)
    if tool in WRITE_TOOLS and path:
        return _render_write(path, tool_input)
    return [code_block(json.dumps(tool_input, ensure_ascii=False, separators=(",", ":")), "json")]


def approval_prompt(client: str, tool: str, tool_input: dict[str, Any], cwd: str | None,
                    session: str | None) -> str:
    """The question of an approval: who asks to run what, where."""
    lines = [f"**{client}** asks to use {code_span(tool)}", "", *render(tool, tool_input), ""]
    where = [f"in {code_span(cwd)}" if cwd else "", f"session {code_span(session)}" if session else ""]
    if any(where):
        lines.append(" · ".join(w for w in where if w))
    return "\n".join(lines).rstrip()


def review_prompt(client: str, message: str | None, session: str | None) -> str:
    """The question of a stop review: the agent's last message, and what to do next."""
    said = message.strip() if message and message.strip() else "(no final message)"
    if len(said) > 3 * MAX_BLOCK_CHARS:
        said = said[:3 * MAX_BLOCK_CHARS] + f"\n\n… ({len(said) - 3 * MAX_BLOCK_CHARS:,} more characters)"
    tail = f" (session {code_span(session)})" if session else ""
    return f"**{client}** stopped{tail}. Its last message:\n\n{said}\n\nDone, or continue with what instruction?"
