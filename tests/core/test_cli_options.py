"""The command line's options as a new user meets them: documented, one spelling, clear refusals."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from hitl_desk.cli import build_parser
from hitl_desk.client import RelayClient
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay, start_relay
from tests.core.test_cli_rough_edges import env_for, hitl_desk
from tests.relay.test_mcp import mcp_client, text_of


def parsers(parser: argparse.ArgumentParser, path: str = "hitl-desk") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser in the tree, with the command words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, f"{path} {name}")


def test_every_option_argument_and_command_has_help() -> None:
    missing = []
    for path, parser in parsers(build_parser(with_plugins=True)):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [f"{path} {name}" for name in action.choices if name not in listed]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_agent_and_agent_name_are_one_option_everywhere() -> None:
    seen = 0
    for path, parser in parsers(build_parser(with_plugins=True)):
        for action in parser._actions:
            spellings = {"--agent", "--agent-name"} & set(action.option_strings)
            if spellings:
                seen += 1
                assert spellings == {"--agent", "--agent-name"}, path
                assert action.option_strings[0] == "--agent", path  # the spelling help shows first
    assert seen >= 6  # request, notify, notify-completion, proxy, keys create, mcp-config


async def test_both_spellings_name_the_agent(relay: LiveRelay, owner: RelayClient) -> None:
    env = env_for(relay.home, relay.url)
    for option, name in (("--agent", "short-spelling"), ("--agent-name", "long-spelling")):
        code, _, err = await hitl_desk("notify", "--message", "hello", option, name, env=env)
        assert code == 0, err
    for option, name in (("--agent", "key-short"), ("--agent-name", "key-long")):
        code, _, err = await hitl_desk("keys", "create", option, name, env=env)
        assert code == 0, err
    assert [r.agent_name for r in await owner.list_requests()] == ["short-spelling", "long-spelling"]
    assert {k.agent_name for k in await owner.list_api_keys()} == {"key-short", "key-long"}


async def test_pending_with_nothing_waiting_says_so_on_stderr(relay: LiveRelay) -> None:
    env = env_for(relay.home, relay.url)
    code, out, err = await hitl_desk("pending", env=env)
    assert (code, out, err) == (0, "", "no pending requests\n")
    code, out, err = await hitl_desk("pending", "--json", env=env)
    assert (code, out.strip(), err) == (0, "[]", "no pending requests\n")


async def test_empty_prompt_says_prompt_must_not_be_empty_over_rest_mcp_and_cli(relay: LiveRelay) -> None:
    agent = await relay.agent("empty-asker")
    async with agent, aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/api/v1/hitl/request", json={"prompt": ""},
                             headers={"Authorization": f"Bearer {agent.credential}"}) as resp:
            body = await resp.json()
        assert resp.status == 422 and body["error"]["code"] == "invalid_request"
        assert body["error"]["message"] == "prompt must not be empty"
        async with mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
            result = await client.call_tool("request_human_input", {"prompt": ""})
        assert result.is_error and text_of(result).endswith("Invalid arguments: prompt must not be empty")
    code, _, err = await hitl_desk("request", "--prompt", "", env=env_for(relay.home, relay.url))
    assert code == 1 and err == "hitl-desk: prompt must not be empty\n"


async def test_default_answer_outside_the_choices_is_refused(relay: LiveRelay, owner: RelayClient) -> None:
    body = {"prompt": "Deploy?", "choices": ["yes", "no"], "default_answer": "maybe", "wait": False}
    agent = await relay.agent("defaulting-agent")
    async with agent, aiohttp.ClientSession() as http:
        async with http.post(relay.url + "/api/v1/hitl/request", json=body,
                             headers={"Authorization": f"Bearer {agent.credential}"}) as resp:
            error = (await resp.json())["error"]
        assert (resp.status, error["code"]) == (422, "default_answer_not_a_choice")
        async with mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
            result = await client.call_tool("request_human_input", {k: v for k, v in body.items() if k != "wait"})
        assert result.is_error and "not one of the choices" in text_of(result)
    code, _, err = await hitl_desk("request", "--prompt", "Deploy?", "--choice", "yes", "--choice", "no",
                                   "--default-answer", "maybe", env=env_for(relay.home, relay.url))
    assert code == 2 and "--default-answer 'maybe' is not one of the --choice values" in err
    assert await owner.list_requests() == []  # nothing reached the human


async def test_timeout_above_the_cap_says_it_was_capped(tmp_path: Path) -> None:
    running = await start_relay(tmp_path / "home", max_timeout=60)
    try:
        live = LiveRelay(running, tmp_path / "home")
        async with live.owner() as owner, ScriptedApprover(owner, lambda request: "go"):
            env = env_for(live.home, live.url)
            code, out, err = await hitl_desk("request", "--prompt", "Go?", "--timeout", "3600", env=env)
            assert (code, out) == (0, "go\n"), err
            assert err == "hitl-desk: the relay caps waiting at 60 s; this request expires in 60 s, not 3600 s\n"
            code, out, err = await hitl_desk("request", "--prompt", "Go?", "--timeout", "30", env=env)
            assert (code, out, err) == (0, "go\n", "")  # under the cap: nothing said
    finally:
        await running.stop()
