"""Hostile agent text through the command line: ``pending``, ``watch``, ``agents list`` and
``keys list`` run as real processes against a relay holding the corpus, and what they write to
the terminal holds no ESC, C1 or bidi control; JSON output still parses to the exact text."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from hitl_desk.display import visible_json, visible_line
from tests.conftest import LiveRelay
from tests.core.test_cli_e2ee import env_for, hitl_desk
from tests.hostile import FORBIDDEN, HOSTILE

DEADLINE = 30.0


def assert_terminal_safe(out: bytes, command: str) -> str:
    """Decode ``out`` and check that no control or bidi character is in it; return the text."""
    text = out.decode("utf-8")
    found = FORBIDDEN.search(text)
    assert found is None, f"{command} wrote {found.group()!r} raw"
    return text


async def fill(relay: LiveRelay) -> dict[str, str]:
    """Each hostile string as an agent's name, prompt, choices and placeholder; name → request id."""
    ids: dict[str, str] = {}
    for name, text in HOSTILE.items():
        async with await relay.agent(text) as agent:
            created = await agent.create_request(f"{name} {text}", choices=[text, "no"], placeholder_text=text)
            ids[name] = created.id
    return ids


async def watch_until(env: dict[str, str], *args: str, lines: int) -> bytes:
    """Run ``hitl-desk watch --since 0`` until it printed ``lines`` lines; its stdout bytes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hitl_desk.cli", "watch", "--since", "0", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    out = b""
    try:
        async with asyncio.timeout(DEADLINE):
            while out.count(b"\n") < lines:
                chunk = await proc.stdout.read(65536)
                assert chunk, (await proc.communicate())[1].decode()
                out += chunk
    finally:
        proc.kill()
        await proc.communicate()
    return out


@pytest.mark.slow
async def test_pending_prints_the_hostile_corpus_escaped_one_line_each(relay: LiveRelay) -> None:
    ids = await fill(relay)
    env = env_for(relay.home, relay.url)
    code, out, err = await hitl_desk("pending", env=env)
    assert code == 0, err
    listing = assert_terminal_safe(out.encode(), "pending")
    lines = listing.splitlines()
    assert len(lines) == len(HOSTILE)  # a newline or CR in agent text made no extra or hidden line
    for name, text in HOSTILE.items():
        line = next(li for li in lines if li.startswith(ids[name]))
        assert visible_line(text)[:16] in line and f"[{visible_line(text)} | no]" in line, name


@pytest.mark.slow
async def test_agents_and_keys_lists_print_hostile_agent_names_escaped(relay: LiveRelay) -> None:
    await fill(relay)
    env = env_for(relay.home, relay.url)
    for command in (("agents", "list"), ("keys", "list")):
        code, out, err = await hitl_desk(*command, env=env)
        assert code == 0, err
        listing = assert_terminal_safe(out.encode(), " ".join(command))
        for text in HOSTILE.values():
            assert visible_line(text) in listing, (command, text)


@pytest.mark.slow
async def test_pending_json_escapes_bidi_and_c1_and_parses_to_the_exact_text(relay: LiveRelay) -> None:
    ids = await fill(relay)
    env = env_for(relay.home, relay.url)
    code, out, err = await hitl_desk("pending", "--json", env=env)
    assert code == 0, err
    shown = json.loads(assert_terminal_safe(out.encode(), "pending --json"))
    by_id = {r["id"]: r for r in shown}
    for name, text in HOSTILE.items():
        request = by_id[ids[name]]
        assert (request["agent_name"], request["choices"][0], request["placeholder_text"]) == (text, text, text)


@pytest.mark.slow
async def test_watch_prints_the_hostile_corpus_escaped(relay: LiveRelay) -> None:
    await fill(relay)
    env = env_for(relay.home, relay.url)
    out = await watch_until(env, lines=len(HOSTILE))
    listing = assert_terminal_safe(out, "watch")
    for text in HOSTILE.values():
        assert f"[{visible_line(text)} | no]" in listing, text


@pytest.mark.slow
async def test_watch_json_escapes_bidi_and_c1_and_parses_to_the_exact_text(relay: LiveRelay) -> None:
    await fill(relay)
    env = env_for(relay.home, relay.url)
    out = await watch_until(env, "--json", lines=len(HOSTILE))
    events = [json.loads(line) for line in assert_terminal_safe(out, "watch --json").splitlines()]
    assert {e["request"]["agent_name"] for e in events} == set(HOSTILE.values())


def test_visible_json_is_parseable_and_holds_no_raw_control() -> None:
    data = {"texts": [*HOSTILE.values(), "x\ud800y", "🔒 naïve"]}
    for indent in (None, 2):
        text = visible_json(data, indent=indent)
        assert not FORBIDDEN.search(text) and "🔒 naïve" in text
        text.encode("utf-8")  # lone surrogates are escaped, so the terminal can take it
        assert json.loads(text) == data
