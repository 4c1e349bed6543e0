"""The agent's end of end-to-end encryption, without I/O: its key pair, its pin of the desk key,
sealing a question bound to its request id and opening the checked answer.

Both agent clients drive it: ``hitl_desk.e2ee.AgentEncryption`` over the async ``RelayClient``
(SDK, stdio proxy) and the light agent-side commands over ``hitl_desk.asker`` (no aiohttp or
pydantic on their path), so the rules of what is sealed and what is accepted live here once.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from nacl.public import Box

from hitl_desk.crypto import bind, check_binding, open_json, seal_json
from hitl_desk.errors import DecryptionError
from hitl_desk.keystore import TrustStore, agent_key_path, load_or_create_keypair
from hitl_desk.lifecycle import new_request_id
from hitl_desk.settings import Settings

DESK_KEY_TTL = 60.0
"""How long an agent reuses the desk key it fetched (and checked against its pin)."""

Kind = Literal["input", "completion", "notification"]
PATHS: dict[str, str] = {"input": "/api/v1/hitl/request/e2ee", "completion": "/api/v1/hitl/complete/e2ee",
                         "notification": "/api/v1/hitl/notify/e2ee"}
"""Where each kind of sealed request is posted."""


class AgentSeal:
    """This agent's key pair (made on first use) and its pin of the desk key."""

    def __init__(self, settings: Settings, agent_name: str | None = None) -> None:
        self.agent_name = agent_name
        self.keys, _ = load_or_create_keypair(agent_key_path(settings))
        self.trust = TrustStore(settings)
        self._box: tuple[str, Box] | None = None
        self._fetched_at = 0.0

    def fresh_box(self) -> Box | None:
        """The Box for the desk key fetched less than ``DESK_KEY_TTL`` ago, else None (fetch it)."""
        if self._box is not None and time.monotonic() - self._fetched_at < DESK_KEY_TTL:
            return self._box[1]
        return None

    def pinned_box(self, desk_key: str) -> tuple[Box, bool]:
        """The Box for ``desk_key`` as the relay serves it, once it passed the pin (``KeyChangedError``
        when it changed); the flag says it is new: register the agent key, then ``keep`` it."""
        self.trust.check_desk(desk_key)
        if self._box is not None and self._box[0] == desk_key:
            self._fetched_at = time.monotonic()
            return self._box[1], False
        return self.keys.box(desk_key), True

    def keep(self, desk_key: str, box: Box) -> None:
        """Reuse ``box`` for ``desk_key`` (the agent key is registered with the relay)."""
        self._box, self._fetched_at = (desk_key, box), time.monotonic()

    def seal(self, box: Box, kind: Kind, text: str, *, choices: list[str] | None = None,
             placeholder: str | None = None) -> tuple[str, str]:
        """A new request id and the envelope holding ``text`` bound to it."""
        request_id = new_request_id()
        body: dict[str, Any]
        if kind == "input":
            body = {"prompt": text, "choices": choices or [], "placeholder_text": placeholder or ""}
        else:
            body = {"summary" if kind == "completion" else "message": text}
        return request_id, seal_json(box, bind(request_id, body))

    def open_answer(self, box: Box, request_id: str, status: str, envelope: str | None, created_at: float) -> str:
        """The answer's text from its envelope, checked to be bound to this request and not older."""
        if status != "answered" or envelope is None:
            raise DecryptionError("The answer came back without its envelope.")
        reply = check_binding(open_json(box, envelope), request_id, not_before=created_at)
        return str(reply.get("response", ""))
