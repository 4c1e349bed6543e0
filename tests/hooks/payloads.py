"""The hook JSON each client documents, as the tests send it, and a helper that plays the agent."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from hitl_desk.client import RelayClient
from hitl_desk.models import HitlRequest
from tests.conftest import LiveRelay
from tests.deadline import until

SUGGESTIONS = [{"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "npm test:*"}],
                "behavior": "allow", "destination": "localSettings"}]

_COMMON = {"session_id": "abc123", "transcript_path": "/home/u/.claude/projects/p/abc123.jsonl",
           "cwd": "/home/u/project", "permission_mode": "default"}

CLAUDE: dict[str, dict[str, Any]] = {
    "PermissionRequest": {**_COMMON, "hook_event_name": "PermissionRequest", "tool_name": "Bash",
                          "tool_input": {"command": "npm test", "description": "Run the test suite"},
                          "permission_suggestions": SUGGESTIONS},
    "PreToolUse": {**_COMMON, "hook_event_name": "PreToolUse", "tool_name": "Write",
                   "tool_input": {"file_path": "/home/u/project/notes.txt", "content": "one\ntwo\n"},
                   "tool_use_id": "toolu_01ABC"},
    "Stop": {**_COMMON, "hook_event_name": "Stop", "stop_hook_active": False,
             "last_assistant_message": "I fixed the parser; 3 tests still fail in test_io.py."},
    "Notification": {**_COMMON, "hook_event_name": "Notification",
                     "message": "Claude needs your permission to use Bash",
                     "title": "Permission needed", "notification_type": "permission_prompt"},
}

CODEX: dict[str, dict[str, Any]] = {
    "PermissionRequest": {"session_id": "0199a3c4-thread", "turn_id": "turn-1", "transcript_path": None,
                          "cwd": "/home/u/project", "hook_event_name": "PermissionRequest", "model": "gpt-5-codex",
                          "permission_mode": "default", "tool_name": "Bash",
                          "tool_input": {"command": "cargo build", "description": "Build it"}},
    "Stop": {"session_id": "0199a3c4-thread", "turn_id": "turn-1", "transcript_path": None, "cwd": "/home/u/project",
             "hook_event_name": "Stop", "model": "gpt-5-codex", "permission_mode": "default",
             "stop_hook_active": False, "last_assistant_message": "Build is green."},
    "notify": {"type": "agent-turn-complete", "thread-id": "0199a3c4-thread", "turn-id": "turn-1",
               "cwd": "/home/u/project", "input-messages": ["fix the build"],
               "last-assistant-message": "Build is green."},
}

GEMINI: dict[str, dict[str, Any]] = {
    "BeforeTool": {"session_id": "g-1", "transcript_path": "/home/u/.gemini/tmp/t.json", "cwd": "/home/u/project",
                   "hook_event_name": "BeforeTool", "timestamp": "2026-12-02T10:00:00Z",
                   "tool_name": "run_shell_command", "tool_input": {"command": "ls -la", "description": "List"}},
    "AfterAgent": {"session_id": "g-1", "transcript_path": "/home/u/.gemini/tmp/t.json", "cwd": "/home/u/project",
                   "hook_event_name": "AfterAgent", "timestamp": "2026-12-02T10:00:05Z", "prompt": "list files",
                   "prompt_response": "Here are the files.", "stop_hook_active": False},
}


def payload(table: dict[str, dict[str, Any]], event: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of a documented payload with some fields changed."""
    data = copy.deepcopy(table[event])
    data.update(changes)
    return data


async def post_hook(relay: LiveRelay, key: str | None, client: str, event: str, body: dict[str, Any],
                    timeout: float | None = None) -> tuple[int, Any]:
    """POST a hook as the client does; the status and the JSON it reads back."""
    query = {} if timeout is None else {"timeout": str(timeout)}
    headers = {"X-API-Key": key} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{relay.url}/api/v1/hooks/{client}/{event}", json=body, params=query,
                                headers=headers) as response:
            return response.status, await response.json()


async def one_pending(owner: RelayClient) -> HitlRequest:
    """The one request waiting for the human (waits for it to arrive)."""
    found = await until(lambda: owner.list_requests("pending"), "a pending request")
    assert len(found) == 1, found
    return found[0]


@asynccontextmanager
async def hook_call(relay: LiveRelay, key: str, client: str, event: str, body: dict[str, Any],
                    timeout: float | None = None) -> AsyncIterator[asyncio.Task[tuple[int, Any]]]:
    """The hook call running in the background while the test plays the human."""
    task = asyncio.ensure_future(post_hook(relay, key, client, event, body, timeout))
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
