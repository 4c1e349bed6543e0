"""Scripted stand-ins for the model APIs the real agent CLIs talk to, served on loopback.

A real agent CLI (Claude Code, Codex, Gemini CLI) is pointed at one of these instead of its
vendor's API through its base-URL setting. The stand-in plays a ``Script``: each model request
of the agent's main loop gets the next scripted turn — a tool call (to any tool the client
offers: our MCP tool, Claude Code's ``Bash``, …) or plain text — and every request is kept, so a
test can read what the client sent back (``tool_results``). Requests that offer no tools are the
clients' side queries (titles, next-speaker checks): they get a short text and are kept apart.

``Tripwire`` is an HTTP(S) proxy that refuses everything and records it: with ``HTTPS_PROXY`` and
``HTTP_PROXY`` pointing at it (and ``NO_PROXY`` covering loopback), any connection a client
tries to make beyond loopback shows up in ``Tripwire.attempts`` instead of leaving the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

LOOPBACK = "127.0.0.1"
NAMESPACED = "::"
"""Joins a namespace and a tool name in ``OpenAIResponses.offered``."""


@dataclass(frozen=True)
class ToolCall:
    """A turn that calls a tool: ``name`` exactly as offered, or an MCP tool's own name
    (matched against the client's spelling, e.g. ``mcp__hitl-desk__request_human_input``)."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Say:
    """A turn that answers with text and ends the agent's turn."""

    text: str


Turn = ToolCall | Say


@dataclass
class Script:
    """The turns a stand-in plays, one per main-loop model request, and what it was sent."""

    turns: list[Turn]
    after: Turn = Say("Done.")
    """Played once the scripted turns are used up."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Main-loop request bodies, in order (one per turn played)."""
    side: list[dict[str, Any]] = field(default_factory=list)
    """Side queries: requests that offered no tools."""

    def play(self, body: dict[str, Any]) -> Turn:
        """Record a main-loop request and return the turn that answers it."""
        turn = self.turns[len(self.requests)] if len(self.requests) < len(self.turns) else self.after
        self.requests.append(body)
        return turn


def resolve(name: str, offered: list[str]) -> str:
    """The offered tool ``name`` means: itself, or the one MCP tool whose name ends with it."""
    if name in offered:
        return name
    matches = [tool for tool in offered if tool.endswith(("__" + name, NAMESPACED + name))]
    if not matches:  # Gemini CLI spells an MCP tool mcp_<server>_<tool>
        matches = [tool for tool in offered if tool.endswith("_" + name)]
    if len(matches) != 1:
        raise LookupError(f"tool {name!r} is not offered once among {offered}")
    return matches[0]


class StandIn:
    """One model API on ``127.0.0.1:<free port>``; subclasses add the routes of their API."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.paths: list[str] = []
        """Every path asked for, known or not (a test can assert nothing unexpected was called)."""
        self.errors: list[str] = []
        """What went wrong answering (a scripted tool the client did not offer, …)."""
        self.app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return f"http://{LOOPBACK}:{self.port}"

    def next_id(self, prefix: str) -> str:
        """A fresh id for a message or tool call."""
        return f"{prefix}_{next(self._ids):04d}"

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        self.paths.append(f"{request.method} {request.path}")
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:  # loop boundary: the test reads what failed instead of a bare 500
            self.errors.append(f"{request.method} {request.path}: {exc!r}")
            raise
        return response

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def sse(request: web.Request, events: list[tuple[str | None, dict[str, Any]]]) -> web.StreamResponse:
    """Stream ``(event name or None, data)`` pairs as server-sent events."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        await response.write(f"{head}data: {json.dumps(data)}\n\n".encode())
    await response.write_eof()
    return response


class Anthropic(StandIn):
    """The Anthropic Messages API (``POST /v1/messages``, streaming or not), for Claude Code via
    ``ANTHROPIC_BASE_URL``."""

    model = "claude-sonnet-4-5"

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.app.router.add_post("/v1/messages", self.messages)
        self.app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    async def count_tokens(self, request: web.Request) -> web.Response:
        """A token count (Claude Code asks before some requests)."""
        return web.json_response({"input_tokens": 100})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """One model turn: the next scripted turn for the main loop, a short text for side queries."""
        body = await request.json()
        offered = [tool["name"] for tool in body.get("tools") or () if "name" in tool]
        turn = self.script.play(body) if offered else Say("ok")
        if not offered:
            self.script.side.append(body)
        blocks = self.blocks(turn, offered)
        stop = "tool_use" if isinstance(turn, ToolCall) else "end_turn"
        message = {"id": self.next_id("msg"), "type": "message", "role": "assistant",
                   "model": body.get("model", self.model), "content": blocks, "stop_reason": stop,
                   "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 20}}
        if not body.get("stream"):
            return web.json_response(message)
        return await sse(request, self.events(message))

    def blocks(self, turn: Turn, offered: list[str]) -> list[dict[str, Any]]:
        """The content blocks of a turn."""
        if isinstance(turn, Say):
            return [{"type": "text", "text": turn.text}]
        try:
            name = resolve(turn.name, offered)
        except LookupError as exc:
            self.errors.append(str(exc))
            return [{"type": "text", "text": f"stand-in error: {exc}"}]
        return [{"type": "tool_use", "id": self.next_id("toolu"), "name": name, "input": turn.arguments}]

    @staticmethod
    def events(message: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
        """The SSE events that stream ``message`` the way the real API does."""
        start = {**message, "content": [], "stop_reason": None}
        events: list[tuple[str | None, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start})]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {"type": "text", "text": ""}}))
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {**block, "input": {}}}))
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                         "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    @staticmethod
    def tool_results(body: dict[str, Any]) -> list[str]:
        """The text of every tool result the client sent back in a request."""
        found: list[str] = []
        for message in body.get("messages") or ():
            content = message.get("content")
            for block in content if isinstance(content, list) else ():
                if block.get("type") != "tool_result":
                    continue
                inner = block.get("content")
                if isinstance(inner, str):
                    found.append(inner)
                else:
                    found.extend(part.get("text", "") for part in inner or () if part.get("type") == "text")
        return found


class OpenAIResponses(StandIn):
    """The OpenAI Responses API (``POST /v1/responses``, streamed), for Codex through a custom
    model provider whose ``base_url`` is this stand-in's ``/v1``."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.app.router.add_post("/v1/responses", self.responses)

    @staticmethod
    def offered(body: dict[str, Any]) -> list[str]:
        """The names of the function tools a request offers (namespaced ones as ``namespace__name``)."""
        names: list[str] = []
        for tool in body.get("tools") or ():
            if tool.get("type") == "function" and "name" in tool:
                names.append(tool["name"])
            for inner in tool.get("tools") or ():  # a namespace of tools
                names.append(f"{tool.get('name', '')}{NAMESPACED}{inner.get('name', '')}")
        return names

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """One model turn, streamed as the Responses API's SSE events."""
        body = await request.json()
        offered = self.offered(body)
        turn = self.script.play(body) if offered else Say("ok")
        if not offered:
            self.script.side.append(body)
        response_id = self.next_id("resp")
        items = [self.item(turn, offered)]
        usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 20,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120}
        events: list[tuple[str | None, dict[str, Any]]] = [
            ("response.created", {"type": "response.created", "response": {"id": response_id}})]
        for index, item in enumerate(items):
            events.append(("response.output_item.done",
                           {"type": "response.output_item.done", "output_index": index, "item": item}))
        events.append(("response.completed", {"type": "response.completed", "response": {
            "id": response_id, "status": "completed", "output": items, "usage": usage}}))
        return await sse(request, events)

    def item(self, turn: Turn, offered: list[str]) -> dict[str, Any]:
        """The output item of a turn: a function call or an assistant message."""
        if isinstance(turn, ToolCall):
            try:
                name = resolve(turn.name, offered)
            except LookupError as exc:
                self.errors.append(str(exc))
                turn = Say(f"stand-in error: {exc}")
            else:
                call = {"type": "function_call", "id": self.next_id("fc"), "call_id": self.next_id("call"),
                        "name": name, "arguments": json.dumps(turn.arguments)}
                namespace, _, short = name.rpartition(NAMESPACED)
                if namespace:  # a tool offered inside a namespace (Codex's MCP servers) is called by both parts
                    call.update(namespace=namespace, name=short)
                return call
        assert isinstance(turn, Say)
        return {"type": "message", "id": self.next_id("msg"), "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}]}

    @staticmethod
    def tool_results(body: dict[str, Any]) -> list[str]:
        """The output of every function call the client sent back in a request."""
        found: list[str] = []
        for item in body.get("input") or ():
            if item.get("type") != "function_call_output":
                continue
            output = item.get("output")
            if isinstance(output, str):
                found.append(output)
            else:
                found.extend(part.get("text", "") for part in output or () if isinstance(part, dict))
        return found


class Gemini(StandIn):
    """The Gemini API (``models/{model}:streamGenerateContent`` and friends), for Gemini CLI via
    ``GOOGLE_GEMINI_BASE_URL``."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.app.router.add_post("/{version}/models/{call}", self.call)

    @staticmethod
    def offered(body: dict[str, Any]) -> list[str]:
        """The names of the functions a request declares."""
        return [declaration["name"] for tool in body.get("tools") or ()
                for declaration in tool.get("functionDeclarations") or () if "name" in declaration]

    async def call(self, request: web.Request) -> web.StreamResponse:
        """``:streamGenerateContent`` (SSE), ``:generateContent`` or ``:countTokens`` on any model."""
        _, _, method = request.match_info["call"].rpartition(":")
        body = await request.json()
        if method == "countTokens":
            return web.json_response({"totalTokens": 100})
        if method not in ("generateContent", "streamGenerateContent"):
            raise web.HTTPNotFound()
        offered = self.offered(body)
        turn = self.script.play(body) if offered else self.side_turn(body)
        reply = {"candidates": [{"content": {"role": "model", "parts": [self.part(turn, offered)]},
                                 "finishReason": "STOP", "index": 0}],
                 "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
                 "modelVersion": "gemini-2.5-pro"}
        if method == "generateContent":
            return web.json_response(reply)
        return await sse(request, [(None, reply)])

    def side_turn(self, body: dict[str, Any]) -> Turn:
        """A side query's answer: JSON when asked for JSON (Gemini CLI's next-speaker check), else text."""
        self.script.side.append(body)
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") == "application/json":  # the next-speaker check and the model router
            return Say(json.dumps({"reasoning": "The model has finished.", "next_speaker": "user",
                                   "complexity_reasoning": "A single question.", "complexity_score": 10}))
        return Say("ok")

    def part(self, turn: Turn, offered: list[str]) -> dict[str, Any]:
        """The content part of a turn: a function call or text."""
        if isinstance(turn, ToolCall):
            try:
                return {"functionCall": {"name": resolve(turn.name, offered), "args": turn.arguments}}
            except LookupError as exc:
                self.errors.append(str(exc))
                return {"text": f"stand-in error: {exc}"}
        return {"text": turn.text}

    @staticmethod
    def tool_results(body: dict[str, Any]) -> list[str]:
        """The response of every function call the client sent back, as JSON text."""
        return [json.dumps(part["functionResponse"].get("response"))
                for content in body.get("contents") or () for part in content.get("parts") or ()
                if "functionResponse" in part]


class Tripwire:
    """A proxy that refuses every request and remembers where each one wanted to go."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        """The proxy URL for ``HTTPS_PROXY`` / ``HTTP_PROXY``."""
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        """Proxy variables that send every non-loopback connection here."""
        no_proxy = "127.0.0.1,localhost,::1"
        return {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "https_proxy": self.url, "http_proxy": self.url,
                "ALL_PROXY": self.url, "all_proxy": self.url, "NO_PROXY": no_proxy, "no_proxy": no_proxy}

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            self.attempts.append(line.decode("latin-1").strip())
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (OSError, TimeoutError):
            self.attempts.append("(a connection that sent no request line)")
        finally:
            writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._refuse, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
