"""``hitl-desk hook CLIENT EVENT`` as the clients run it: a real subprocess, the hook JSON on stdin
(Codex notify: as the last argument), the client's JSON on stdout, exit 0 even when no relay answers."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from hitl_desk.client import RelayClient
from hitl_desk.hookwire import ALLOW_ONCE, CONTINUE
from relay.hooks.core import CONTINUED
from tests.conftest import LiveRelay
from tests.core.test_architecture import loaded_from
from tests.hooks.payloads import CLAUDE, CODEX, GEMINI, one_pending

HITL_DESK = str(Path(sys.executable).with_name("hitl-desk"))


def hook_env(relay_url: str | None, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    if relay_url:
        env["HITL_SERVER_URL"] = relay_url
    if key:
        env["HITL_API_KEY"] = key
    return env


async def run_hook(args: list[str], stdin: dict[str, Any] | None, env: dict[str, str]) -> asyncio.Task[
        tuple[int, str, str]]:
    proc = await asyncio.create_subprocess_exec(
        HITL_DESK, "hook", *args, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)

    async def finish() -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(stdin).encode() if stdin else b""), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()
    return asyncio.ensure_future(finish())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_command_prints_claudes_decision_once_the_human_allows(relay: LiveRelay,
                                                                         owner: RelayClient) -> None:
    key = (await owner.create_api_key("claude-old")).api_key
    run = await run_hook(["claude-code", "PermissionRequest", "--timeout", "30"], CLAUDE["PermissionRequest"],
                         hook_env(relay.url, key))
    asked = await one_pending(owner)
    await owner.answer(asked.id, ALLOW_ONCE)
    code, out, err = await run
    assert code == 0, err
    assert json.loads(out) == {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                      "decision": {"behavior": "allow"}}}
    assert asked.expires_at is not None and (asked.expires_at - asked.created_at).total_seconds() == 30


async def test_codex_stop_through_the_command_continues_with_the_humans_text(relay: LiveRelay,
                                                                             owner: RelayClient) -> None:
    key = (await owner.create_api_key("codex")).api_key
    run = await run_hook(["codex", "Stop", "--url", relay.url], CODEX["Stop"], hook_env(None, key))
    await owner.answer((await one_pending(owner)).id, CONTINUE)
    code, out, _ = await run
    assert (code, json.loads(out)) == (0, {"decision": "block", "reason": CONTINUED})


async def test_codex_notify_takes_its_json_as_the_last_argument(relay: LiveRelay, owner: RelayClient) -> None:
    key = (await owner.create_api_key("codex")).api_key
    run = await run_hook(["codex", "notify", json.dumps(CODEX["notify"])], None, hook_env(relay.url, key))
    code, out, _ = await run
    assert (code, json.loads(out)) == (0, {})
    [told] = await owner.list_requests(kind="notification")
    assert told.prompt == "Codex finished a turn: Build is green."


async def test_gemini_before_tool_denied_through_the_command(relay: LiveRelay, owner: RelayClient) -> None:
    key = (await owner.create_api_key("gemini")).api_key
    run = await run_hook(["gemini", "BeforeTool"], GEMINI["BeforeTool"], hook_env(relay.url, key))
    await owner.answer((await one_pending(owner)).id, "not on this machine")
    code, out, _ = await run
    assert (code, json.loads(out)) == (0, {"decision": "deny", "reason": "not on this machine"})


async def test_without_a_relay_the_command_decides_nothing_and_exits_0() -> None:
    run = await run_hook(["claude-code", "PermissionRequest"], CLAUDE["PermissionRequest"],
                         hook_env(f"http://127.0.0.1:{free_port()}", "mcp_pk_whatever"))
    code, out, err = await run
    assert (code, out) == (0, "{}\n")
    assert "no relay answered" in err


async def test_a_refused_key_or_no_key_decides_nothing(relay: LiveRelay) -> None:
    for key in ("mcp_pk_not-a-key", None):
        code, out, err = await (await run_hook(["claude-code", "Stop"], CLAUDE["Stop"], hook_env(relay.url, key)))
        assert (code, out) == (0, "{}\n")
        assert ("401" in err) if key else ("HITL_API_KEY is not set" in err)


async def test_a_wrong_command_line_is_a_non_blocking_failure() -> None:
    code, out, err = await (await run_hook(["claude-code"], None, hook_env(None, None)))
    assert (code, out) == (1, "")
    assert "usage: hitl-desk hook CLIENT EVENT" in err


def test_the_hook_command_loads_no_http_or_model_library() -> None:
    # The whole path, the POST included (to a port nobody listens on).
    statement = ("import io, os, sys; sys.stdin = io.TextIOWrapper(io.BytesIO(b'{}')); "
                 "os.environ['HITL_API_KEY'] = 'mcp_pk_x'; import hitl_desk.cli; "
                 "out, sys.stdout = sys.stdout, io.StringIO(); "
                 "hitl_desk.cli.main(['hook', 'claude-code', 'Stop', '--url', 'http://127.0.0.1:9']); "
                 "sys.stdout = out")
    loaded = loaded_from(statement, {"aiohttp", "pydantic", "mcp", "relay", "textual", "httpx", "nacl", "asyncio",
                                     "http", "urllib"})
    assert sorted(loaded) == ["http", "http.client", "urllib", "urllib.parse"]


async def test_the_url_option_before_the_command_reaches_the_hook(relay: LiveRelay, owner: RelayClient) -> None:
    key = (await owner.create_api_key("gemini")).api_key
    proc = await asyncio.create_subprocess_exec(
        HITL_DESK, "--url", relay.url, "hook", "gemini", "Notification", env=hook_env(None, key),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(json.dumps({"hook_event_name": "Notification", "message": "hi"}).encode())
    assert (proc.returncode, out.decode()) == (0, "{}\n"), err
    [told] = await owner.list_requests(kind="notification")
    assert told.prompt == "Gemini CLI: hi"


async def test_a_proxy_setting_never_diverts_the_hook_from_the_loopback_relay(relay: LiveRelay,
                                                                               owner: RelayClient) -> None:
    key = (await owner.create_api_key("gemini")).api_key
    dead = f"http://127.0.0.1:{free_port()}"
    env = hook_env(relay.url, key) | {"HTTP_PROXY": dead, "http_proxy": dead, "ALL_PROXY": dead}
    env = {k: v for k, v in env.items() if k.lower() != "no_proxy"}
    code, out, err = await (await run_hook(["gemini", "Notification"], {"message": "via no proxy"}, env))
    assert (code, out) == (0, "{}\n"), err
    assert [n.prompt for n in await owner.list_requests(kind="notification")] == ["Gemini CLI: via no proxy"]
