"""The two ends of an encrypted request: the agent that seals a question and opens the answer,
and the desk (any approver) that opens the question and seals the answer.

Both ends pin each other's keys (``hitl_desk.keystore.TrustStore``) and check the binding our
own clients put inside the plaintext; hitl-cli's unbound envelopes are still opened (they are
what it sends) but reported as unbound so an approver can say so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from nacl.public import Box

from hitl_desk.client import RelayClient, answer_deadline
from hitl_desk.crypto import (
    KeyPair,
    bind,
    check_binding,
    fingerprint,
    is_bound,
    open_envelope,
    open_json,
    seal,
    seal_json,
)
from hitl_desk.errors import KeyChangedError, KeyMissingError
from hitl_desk.keystore import TrustStore, desk_key_path, load_keypair, load_or_create_keypair
from hitl_desk.models import HitlRequest
from hitl_desk.sealing import AgentSeal
from hitl_desk.settings import Settings

BOUND_CACHE_LIMIT = 10_000
"""Requests remembered as bound or not between opening and answering (re-derived if dropped)."""
_TEXT_FIELD = {"input": "prompt", "completion": "summary", "notification": "message"}


class AgentEncryption:
    """The agent's end over the async client: seal questions for the desk key, open and check the answers."""

    def __init__(self, client: RelayClient, settings: Settings, agent_name: str | None = None) -> None:
        self.client = client
        self.agent_name = agent_name
        self.seal = AgentSeal(settings, agent_name)
        self.keys = self.seal.keys

    async def _desk_box(self) -> Box:
        box = self.seal.fresh_box()
        if box is not None:
            return box
        desk_key = await self.client.desk_public_key()
        box, new = self.seal.pinned_box(desk_key)
        if new:  # registered each time the desk box is built: the relay accepts re-registration
            await self.client.register_key("agent", self.agent_name, self.keys.public_key)
            self.seal.keep(desk_key, box)
        return box

    async def ask(self, prompt: str, *, kind: Literal["input", "completion"] = "input",
                  choices: list[str] | None = None, placeholder: str | None = None,
                  timeout_seconds: float | None = None,
                  on_created: Callable[[HitlRequest], None] | None = None) -> str:
        """Ask the human with the content sealed end to end; returns the checked answer.

        ``on_created`` hears the pending request as soon as the relay accepted it (its id is
        what a caller needs to cancel it).
        """
        box = await self._desk_box()
        request_id, envelope = self.seal.seal(box, kind, prompt, choices=choices, placeholder=placeholder)
        created = await self.client.create_encrypted(kind, envelope, request_id=request_id,
                                                     timeout_seconds=timeout_seconds, agent_name=self.agent_name)
        if on_created is not None:
            on_created(created)
        done = await self.client.wait_for_answer(created.id, deadline=answer_deadline(created))
        done.outcome()  # an expired or cancelled request raises its catalog error here
        return self.seal.open_answer(box, request_id, done.status, done.encrypted_response,
                                     created.created_at.timestamp())

    async def notify(self, message: str) -> HitlRequest:
        """Send a sealed notification."""
        box = await self._desk_box()
        request_id, envelope = self.seal.seal(box, "notification", message)
        return await self.client.create_encrypted("notification", envelope, request_id=request_id,
                                                  agent_name=self.agent_name)


@dataclass(frozen=True)
class Opened:
    """A decrypted request as an approver shows it."""

    prompt: str
    choices: list[str]
    placeholder_text: str | None
    bound: bool
    """False for hitl-cli's envelopes, which carry no request id to check."""
    new_key: str | None = None
    """The agent key's fingerprint when opening this request pinned it (trust on first use)."""


class DeskEncryption:
    """The desk's end, shared by every approver: open questions, seal answers."""

    def __init__(self, keys: KeyPair | None, settings: Settings) -> None:
        self.keys = keys
        self.trust = TrustStore(settings)
        self._boxes: dict[str, Box] = {}
        self._bound: dict[str, bool] = {}

    @classmethod
    def load(cls, settings: Settings) -> DeskEncryption:
        """The desk key if this machine has it (an approver without it can still list requests)."""
        return cls(load_keypair(desk_key_path(settings)), settings)

    @classmethod
    async def ensure(cls, client: RelayClient, settings: Settings, *, replace: bool = False) -> DeskEncryption:
        """Make sure the relay serves this desk's key, creating it if no approver has yet.

        An approver without the key, where the relay already serves one, stays unable to read
        (it must be paired) rather than replacing the key every agent pinned; a local key that
        differs from the relay's is refused unless ``replace`` says the human chose it.
        """
        served = await client.desk_public_key(missing_ok=True)
        path = desk_key_path(settings)
        local = load_keypair(path)
        if served and local is None:
            return cls(None, settings)
        if served and local is not None and served != local.public_key and not replace:
            raise KeyChangedError(
                f"The relay serves another desk key ({fingerprint(served)}) than this machine's "
                f"({fingerprint(local.public_key)}). To make this machine's key the desk key, "
                "run: hitl-desk keys register-desk --replace")
        keys = local or load_or_create_keypair(path)[0]
        if served != keys.public_key:
            await client.register_key("user", None, keys.public_key)
        return cls(keys, settings)

    def _box(self, request: HitlRequest) -> Box:
        return self._checked_box(request)[0]

    def _checked_box(self, request: HitlRequest) -> tuple[Box, bool]:
        """The Box for the request's agent key, and whether this call pinned that key (first use)."""
        if self.keys is None:
            raise KeyMissingError("This approver does not have the desk key, so it cannot read "
                                  "encrypted requests (pair it with the desk first).")
        agent_key = request.agent_public_key
        if agent_key is None:
            raise KeyMissingError(f"Request {request.id} names no agent key.")
        first_use = self.trust.check_agent(request.agent_id, request.agent_name, agent_key)
        box = self._boxes.get(agent_key)
        if box is None:
            box = self._boxes[agent_key] = self.keys.box(agent_key)
        return box, first_use

    def open(self, request: HitlRequest) -> Opened:
        """Decrypt a request; raises on a missing/changed key, tampering, or a swapped envelope."""
        assert request.encrypted_payload is not None, "not an encrypted request"
        box, first_use = self._checked_box(request)
        data = open_json(box, request.encrypted_payload)
        bound = is_bound(data)
        if len(self._bound) >= BOUND_CACHE_LIMIT:  # requests opened but answered elsewhere
            self._bound.clear()
        self._bound[request.id] = bound
        if bound:
            check_binding(data, request.id, not_before=request.created_at.timestamp())
        text = data.get(_TEXT_FIELD[request.kind], "")
        choices = data.get("choices") or []
        return Opened(prompt=str(text), choices=[str(c) for c in choices] if isinstance(choices, list) else [],
                      placeholder_text=str(data.get("placeholder_text") or "") or None, bound=bound,
                      new_key=fingerprint(request.agent_public_key or "") if first_use else None)

    def seal_answer(self, request: HitlRequest, response: str) -> str:
        """Seal an answer in the format the asking client reads."""
        box = self._box(request)
        assert request.encrypted_payload is not None, "not an encrypted request"
        bound = self._bound.pop(request.id, None)
        if bound is None:
            bound = is_bound(open_json(box, request.encrypted_payload))
        if bound:
            return seal_json(box, bind(request.id, {"response": response}))
        if request.channel == "mcp":
            return seal(box, response.encode("utf-8"))  # hitl-cli's proxy hands this text to the LLM
        return seal_json(box, {"response": response})

    async def answer(self, client: RelayClient, request: HitlRequest, response: str) -> HitlRequest:
        """Answer an encrypted request with a sealed response."""
        return await client.answer_encrypted(request.id, self.seal_answer(request, response))


def open_text_reply(box: Box, envelope: str) -> str:
    """Open a reply that is plain text or a JSON object with ``response`` (either format)."""
    raw = open_envelope(box, envelope).decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    return str(data.get("response", "")) if isinstance(data, dict) else raw
