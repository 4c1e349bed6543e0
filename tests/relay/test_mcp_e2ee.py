"""The E2EE MCP tools, as hitl-cli 1.2.1's proxy calls them: the SDK's client against the live relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from mcp.types import CallToolResult

from hitl_desk.client import RelayClient
from hitl_desk.crypto import (
    KeyPair,
    b64,
    bind,
    check_binding,
    open_envelope,
    open_json,
    seal_json,
)
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.models import MAX_ENVELOPE_CHARS, HitlRequest, new_request_id
from tests.approver import ScriptedApprover
from tests.conftest import LiveRelay
from tests.relay.test_mcp import (
    DEADLINE,
    MODES,
    Progress,
    mcp_client,
    never,
    relay,
    text_of,
)
from tests.secrecy import assert_relay_kept_none_of

__all__ = ["relay"]  # the fixture, with its short progress interval

SECRET_PROMPT = "Wire 40k to the account ending 7781-kiwi?"
SECRET_CHOICE = "approve-wire-kiwi"
SECRET_ANSWER = "only half, tangerine-falcon"
SECRET_MESSAGE = "payroll file moved to vault-magenta"
ASK = "request_human_input_e2ee"
NOTIFY = "notify_human_e2ee"
SOME_ENVELOPE = b64(bytes(64))  # the right shape; arguments are checked before anything is opened


class Agent:
    """An agent with a registered key pair, sealing the way hitl-cli's proxy does."""

    def __init__(self, name: str, credential: str, keys: KeyPair, desk_key: str) -> None:
        self.name, self.credential, self.keys = name, credential, keys
        self.box = keys.box(desk_key)

    def question(self, prompt: str, choices: list[str] | None = None) -> str:
        """hitl-cli's proxy plaintext: ``{"prompt", "choices"?}``, no binding."""
        return seal_json(self.box, {"prompt": prompt} | ({"choices": choices} if choices is not None else {}))

    def opened(self, result: CallToolResult) -> str:
        """The tool's text opened as hitl-cli's proxy would: the answer as UTF-8."""
        return open_envelope(self.box, text_of(result)).decode("utf-8")


@pytest.fixture
async def desk(relay: LiveRelay, owner: RelayClient) -> DeskEncryption:
    """The desk key, made and registered the way the first approver does it."""
    return await DeskEncryption.ensure(owner, relay.settings)


async def new_agent(relay: LiveRelay, desk: DeskEncryption, name: str = "sealed-agent") -> Agent:
    """A fresh API key for ``name`` and a key pair registered with it."""
    client = await relay.agent(name)
    keys = KeyPair.generate()
    assert desk.keys is not None and client.credential is not None
    async with client:
        await client.register_key("agent", None, keys.public_key)
    return Agent(name, client.credential, keys, desk.keys.public_key)


def created(approver: ScriptedApprover, kind: str = "input") -> HitlRequest | None:
    """The first request of this kind the approver saw created."""
    return next((e.request for e in approver.events if e.type == "request.created" and e.request.kind == kind), None)


def closed_as(event_type: str) -> Callable[[ScriptedApprover], bool]:
    """Approver predicate: some request got this event."""
    return lambda approver: any(e.type == event_type for e in approver.events)


# -- what a client sees ------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
async def test_e2ee_tools_are_listed_for_proxies_with_envelope_arguments(relay: LiveRelay, desk: DeskEncryption,
                                                                         mode: str) -> None:
    agent = await new_agent(relay, desk)
    async with mcp_client(relay.url + "/mcp-server/mcp/", agent.credential, mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"request_human_input", "notify_human", "notify_human_completion", ASK, NOTIFY}
    for name, plain in ((ASK, "request_human_input"), (NOTIFY, "notify_human")):
        tool = tools[name]
        assert tool.output_schema is None and tool.input_schema["required"] == ["encrypted_payload"]
        assert tool.description and "proxy" in tool.description and plain in tool.description
    assert set(tools[ASK].input_schema["properties"]) == {"encrypted_payload", "request_id", "timeout_seconds",
                                                         "agent_name"}
    assert set(tools[NOTIFY].input_schema["properties"]) == {"encrypted_payload", "request_id", "agent_name"}


# -- round trips -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
async def test_sealed_question_reports_progress_and_returns_the_answer_sealed_for_the_agent(
        relay: LiveRelay, owner: RelayClient, desk: DeskEncryption, mode: str) -> None:
    agent = await new_agent(relay, desk)
    progress = Progress(asyncio.Queue())
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp-server/mcp/", agent.credential, mode) as client:
        call = asyncio.create_task(client.call_tool(
            ASK, {"encrypted_payload": agent.question(SECRET_PROMPT, [SECRET_CHOICE, "no"])},
            progress_callback=progress))
        async with asyncio.timeout(DEADLINE):
            first = await progress.updates.get()
            second = await progress.updates.get()  # a periodic one: the call is still waiting
            assert not call.done()
            await approver.wait_for(lambda a: created(a) is not None)
            asked = created(approver)
            assert asked is not None
            opened = desk.open(asked)
            await desk.answer(owner, asked, SECRET_ANSWER)
            result = await call
    assert not result.is_error and SECRET_ANSWER not in text_of(result)
    assert agent.opened(result) == SECRET_ANSWER  # hitl-cli's format: plain UTF-8 in the envelope
    assert (opened.prompt, opened.choices, opened.bound) == (SECRET_PROMPT, [SECRET_CHOICE, "no"], False)
    assert (asked.prompt, asked.choices, asked.channel, asked.agent_name) == ("", [], "mcp", "sealed-agent")
    assert asked.agent_public_key == agent.keys.public_key
    assert first[0] == 0 and asked.id in (first[2] or "") and second[0] > first[0] and second[1] == 900


async def test_bound_envelope_keeps_its_request_id_and_gets_a_bound_answer(
        relay: LiveRelay, owner: RelayClient, desk: DeskEncryption) -> None:
    agent = await new_agent(relay, desk)
    request_id = new_request_id()
    payload = seal_json(agent.box, bind(request_id, {"prompt": SECRET_PROMPT, "choices": []}))
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
        call = asyncio.create_task(client.call_tool(ASK, {"encrypted_payload": payload, "request_id": request_id}))
        await approver.wait_for(lambda a: created(a) is not None)
        asked = created(approver)
        assert asked is not None and asked.id == request_id and desk.open(asked).bound
        await desk.answer(owner, asked, SECRET_ANSWER)
        result = await asyncio.wait_for(call, DEADLINE)
    reply = check_binding(open_json(agent.box, text_of(result)), request_id, not_before=asked.created_at.timestamp())
    assert reply["response"] == SECRET_ANSWER


@pytest.mark.parametrize("mode", MODES)
async def test_sealed_notification_is_confirmed_at_once_and_readable_only_on_the_desk(
        relay: LiveRelay, owner: RelayClient, desk: DeskEncryption, mode: str) -> None:
    agent = await new_agent(relay, desk)
    async with mcp_client(relay.url + "/mcp", agent.credential, mode) as client:
        sealed = seal_json(agent.box, {"message": SECRET_MESSAGE})
        result = await client.call_tool(NOTIFY, {"encrypted_payload": sealed})
    assert (result.is_error, text_of(result)) == (False, "Notification sent")
    [sent] = await owner.list_requests()
    assert (sent.kind, sent.status, sent.prompt, sent.channel, sent.encrypted) == (
        "notification", "delivered", "", "mcp", True)
    assert desk.open(sent).prompt == SECRET_MESSAGE


async def test_relay_keeps_no_plaintext_of_sealed_mcp_calls(
        relay: LiveRelay, owner: RelayClient, desk: DeskEncryption, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await new_agent(relay, desk)
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
        call = asyncio.create_task(client.call_tool(
            ASK, {"encrypted_payload": agent.question(SECRET_PROMPT, [SECRET_CHOICE])}))
        await approver.wait_for(lambda a: created(a) is not None)
        asked = created(approver)
        assert asked is not None
        await desk.answer(owner, asked, SECRET_ANSWER)
        answered = await asyncio.wait_for(call, DEADLINE)
        await client.call_tool(NOTIFY, {"encrypted_payload": seal_json(agent.box, {"message": SECRET_MESSAGE})})
    assert agent.opened(answered) == SECRET_ANSWER
    stored = await owner.list_requests()
    assert len(stored) == 2 and all(r.encrypted and r.prompt == "" and r.response is None for r in stored)
    await assert_relay_kept_none_of(relay, SECRET_PROMPT, SECRET_CHOICE, SECRET_ANSWER, SECRET_MESSAGE,
                                    logs=caplog)


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tool,arguments,words", [
    (ASK, {}, ["encrypted_payload"]),
    (NOTIFY, {}, ["encrypted_payload"]),
    (ASK, {"encrypted_payload": 42}, ["encrypted_payload"]),
    (ASK, {"encrypted_payload": "not an envelope!"}, ["encrypted_payload", "base64"]),
    (NOTIFY, {"encrypted_payload": "A" * 57}, ["encrypted_payload", "base64"]),
    (ASK, {"encrypted_payload": b64(bytes(39))}, ["encrypted_payload", "too short"]),
    (ASK, {"encrypted_payload": "QUJD"}, ["encrypted_payload", "too short"]),
    (ASK, {"encrypted_payload": SOME_ENVELOPE, "request_id": "mine"}, ["request_id"]),
    (NOTIFY, {"encrypted_payload": SOME_ENVELOPE, "request_id": "req_1"}, ["request_id"]),
    (ASK, {"encrypted_payload": SOME_ENVELOPE, "timeout_seconds": 0}, ["timeout_seconds"]),
    (NOTIFY, {"encrypted_payload": SOME_ENVELOPE, "agent_name": " "}, ["agent_name"]),
    (NOTIFY, {"encrypted_payload": b64(bytes(MAX_ENVELOPE_CHARS))}, ["encrypted_payload"]),
])
async def test_argument_that_cannot_be_an_envelope_request_is_a_tool_error_naming_it(
        relay: LiveRelay, owner: RelayClient, desk: DeskEncryption, tool: str, arguments: dict[str, Any],
        words: list[str]) -> None:
    agent = await new_agent(relay, desk)
    async with mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
        result = await client.call_tool(tool, arguments)
        after = await client.call_tool(NOTIFY, {"encrypted_payload": SOME_ENVELOPE})
    assert result.is_error and all(word in text_of(result) for word in words), text_of(result)
    assert text_of(after) == "Notification sent"
    assert len(await owner.list_requests()) == 1  # only the one after: nothing half-made


async def test_missing_desk_or_agent_key_is_a_tool_error_saying_what_to_register(
        relay: LiveRelay, owner: RelayClient) -> None:
    key = (await relay.agent("keyless")).credential
    async with mcp_client(relay.url + "/mcp", key, "legacy") as client:
        no_desk = await client.call_tool(ASK, {"encrypted_payload": SOME_ENVELOPE})
        await DeskEncryption.ensure(owner, relay.settings)
        no_agent_key = await client.call_tool(NOTIFY, {"encrypted_payload": SOME_ENVELOPE})
    assert no_desk.is_error and "desk key" in text_of(no_desk) and "approver" in text_of(no_desk)
    assert no_agent_key.is_error and "/api/v1/keys/register" in text_of(no_agent_key)
    assert "keyless" in text_of(no_agent_key)
    assert await owner.list_requests() == []


async def test_request_id_already_taken_is_a_tool_error(relay: LiveRelay, owner: RelayClient,
                                                        desk: DeskEncryption) -> None:
    agent = await new_agent(relay, desk)
    arguments = {"encrypted_payload": SOME_ENVELOPE, "request_id": new_request_id()}
    async with mcp_client(relay.url + "/mcp", agent.credential, "auto") as client:
        first = await client.call_tool(NOTIFY, arguments)
        again = await client.call_tool(ASK, arguments)
    assert not first.is_error
    assert again.is_error and arguments["request_id"] in text_of(again) and "exists" in text_of(again)
    assert len(await owner.list_requests()) == 1


async def test_agent_is_the_keys_else_the_owner_names_it_with_its_registered_key(
        relay: LiveRelay, owner: RelayClient, desk: DeskEncryption) -> None:
    agent = await new_agent(relay, desk)
    named = KeyPair.generate()
    await owner.register_key("agent", "named-agent", named.public_key)
    async with mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
        await client.call_tool(NOTIFY, {"encrypted_payload": SOME_ENVELOPE, "agent_name": "ignored"})
    async with mcp_client(relay.url + "/mcp", relay.owner_token, "legacy") as client:
        await client.call_tool(NOTIFY, {"encrypted_payload": SOME_ENVELOPE, "agent_name": "named-agent"})
    seen = {r.agent_name: r.agent_public_key for r in await owner.list_requests()}
    assert seen == {"sealed-agent": agent.keys.public_key, "named-agent": named.public_key}


# -- expiry, dismissal, cancellation -----------------------------------------------------------

async def test_unanswered_sealed_question_expires_as_a_tool_error(relay: LiveRelay, owner: RelayClient,
                                                                  desk: DeskEncryption) -> None:
    agent = await new_agent(relay, desk)
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent.credential, "auto") as client:
        result = await client.call_tool(ASK, {"encrypted_payload": agent.question("Too slow"), "timeout_seconds": 0.2})
        await approver.wait_for(closed_as("request.expired"))
    assert result.is_error and "expired" in text_of(result) and "consent" in text_of(result)


async def test_human_dismissing_a_sealed_question_is_a_tool_error(relay: LiveRelay, owner: RelayClient,
                                                                  desk: DeskEncryption) -> None:
    agent = await new_agent(relay, desk)
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent.credential, "legacy") as client:
        call = asyncio.create_task(client.call_tool(ASK, {"encrypted_payload": agent.question("Dismiss me")}))
        await approver.wait_for(lambda a: created(a) is not None)
        asked = created(approver)
        assert asked is not None
        await owner.cancel(asked.id)
        result = await asyncio.wait_for(call, DEADLINE)
    assert result.is_error and "dismissed" in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_cancelled_sealed_call_withdraws_its_request(relay: LiveRelay, owner: RelayClient,
                                                           desk: DeskEncryption, mode: str) -> None:
    agent = await new_agent(relay, desk)
    async with ScriptedApprover(owner, never) as approver, \
            mcp_client(relay.url + "/mcp", agent.credential, mode) as client:
        call = asyncio.create_task(client.call_tool(ASK, {"encrypted_payload": agent.question("Cancel me")}))
        await approver.wait_for(lambda a: created(a) is not None)
        call.cancel()
        await approver.wait_for(closed_as("request.cancelled"))
        # The session (legacy) or connection (modern) is still good for the next call.
        assert text_of(await client.call_tool(NOTIFY, {"encrypted_payload": SOME_ENVELOPE})) == "Notification sent"
    cancelled = next(e.request for e in approver.events if e.type == "request.cancelled")
    assert cancelled.answered_by == "agent:sealed-agent" and cancelled.encrypted
    with pytest.raises(asyncio.CancelledError):
        await call
