"""The end-to-end encrypted tools: envelopes in, envelopes out, for encrypting proxies.

``request_human_input_e2ee`` and ``notify_human_e2ee`` are what hitl-cli 1.2.1's proxy calls
(compat doc §3.4): ``{"encrypted_payload"}``, a NaCl Box envelope sealed with the agent's key for
the desk key of ``GET /api/v1/devices/public-keys``.  The relay cannot open it: it checks the
envelope's shape, routes it with the public key registered for the calling agent, and returns
the desk's sealed answer as the tool's text.  Auth, agent resolution, progress, cancellation and
expiry are the plaintext tools' own (``Desk.ask_with`` / ``Desk.send_with``).
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from nacl.public import Box

from hitl_desk.crypto import DecryptionError, unb64
from hitl_desk.errors import HitlError
from hitl_desk.models import Agent, EncryptedCreate, HitlRequest, Kind
from relay.broker import Broker
from relay.mcp.desk import NOTIFIED, Create, Desk, answer_text, arguments
from relay.mcp.texts import ASK_SEALED, NOTIFY_SEALED, AgentNameArg, PayloadArg, RequestIdArg, TimeoutArg, tool_hints

MIN_ENVELOPE_BYTES = Box.NONCE_SIZE + 16
"""Nonce and MAC: an envelope shorter than this holds nothing."""


def sealed_answer(request: HitlRequest) -> str:
    """The sealed answer of a final encrypted request; expiry and dismissal are tool errors."""
    if request.status != "answered":
        answer_text(request)  # raises the plaintext tools' expiry or dismissal error
    if request.encrypted_response is None:
        raise ToolError(f"Request {request.id} was answered without an encrypted response.")
    return request.encrypted_response


def envelope_arguments(**values: object) -> EncryptedCreate:
    """Validate the arguments; a payload that cannot be an envelope is refused before anything is stored."""
    payload = values.get("encrypted_payload")
    if isinstance(payload, str):
        try:
            size = len(unb64(payload))
        except DecryptionError:
            raise ToolError("Invalid arguments: encrypted_payload: not standard base64 (A-Z a-z 0-9 + / with "
                            "= padding).") from None
        if size < MIN_ENVELOPE_BYTES:
            raise ToolError(f"Invalid arguments: encrypted_payload: {size} bytes is too short for an envelope "
                            f"(nonce and MAC alone are {MIN_ENVELOPE_BYTES}).")
    body: EncryptedCreate = arguments(EncryptedCreate, **values)
    return body


def sealing(kind: Kind, body: EncryptedCreate) -> Create:
    """Create the encrypted request; a missing key or a taken id is a tool error saying what to do."""

    async def create(broker: Broker, agent: Agent) -> HitlRequest:
        try:
            return await broker.create_encrypted(agent, kind, body, "mcp", attended=kind != "notification")
        except HitlError as exc:  # KeyMissingError names the key to register; RequestExistsError the id
            raise ToolError(f"{exc.message} ({exc.code})" if exc.status == 429 else exc.message) from None

    return create


def add_sealed_tools(server: MCPServer, desk: Desk) -> None:
    """Add the two ``*_e2ee`` tools: plain text results (the envelope), no output schemas."""

    @server.tool(name="request_human_input_e2ee", title="Ask the human (end-to-end encrypted)",
                 annotations=tool_hints("Ask the human (end-to-end encrypted)"),
                 description=ASK_SEALED, structured_output=False)
    async def request_human_input_e2ee(encrypted_payload: PayloadArg, ctx: Context,
                                       request_id: RequestIdArg = None, timeout_seconds: TimeoutArg = None,
                                       agent_name: AgentNameArg = None) -> str:
        body = envelope_arguments(encrypted_payload=encrypted_payload, request_id=request_id,
                                  timeout_seconds=timeout_seconds, agent_name=agent_name)
        return sealed_answer(await desk.ask_with(ctx, body.agent_name, sealing("input", body)))

    @server.tool(name="notify_human_e2ee", title="Notify the human (end-to-end encrypted)",
                 annotations=tool_hints("Notify the human (end-to-end encrypted)"),
                 description=NOTIFY_SEALED, structured_output=False)
    async def notify_human_e2ee(encrypted_payload: PayloadArg, ctx: Context, request_id: RequestIdArg = None,
                                agent_name: AgentNameArg = None) -> str:
        body = envelope_arguments(encrypted_payload=encrypted_payload, request_id=request_id,
                                  agent_name=agent_name)
        await desk.send_with(ctx, body.agent_name, sealing("notification", body))
        return NOTIFIED
