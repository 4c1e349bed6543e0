"""Wire models: every byte the relay sends or accepts is one of these.

Times on the wire are ISO 8601 UTC strings; ids are opaque strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_PROMPT_CHARS = 20_000
MAX_CHOICES = 20
MAX_CHOICE_CHARS = 200
MAX_PLACEHOLDER_CHARS = 500
MAX_RESPONSE_CHARS = 20_000
MAX_NAME_CHARS = 100
MAX_BODY_BYTES = 1024 * 1024
MAX_TIMEOUT_SECONDS = 15 * 60  # the default cap; the relay's own cap is configurable

Kind = Literal["input", "completion", "notification"]
Status = Literal["pending", "answered", "expired", "cancelled", "delivered"]
"""``delivered`` is the one state of a notification: fire and forget, nothing to answer."""

FINAL_STATUSES: frozenset[str] = frozenset({"answered", "expired", "cancelled", "delivered"})

EventType = Literal[
    "request.created", "request.answered", "request.expired", "request.cancelled"
]

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_CHARS)]
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]
Choice = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHOICE_CHARS)]


class WireModel(BaseModel):
    """Base of the input models: unknown fields are ignored, types are strict-ish."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class RequestOptions(WireModel):
    """What an agent may say about how long a question waits and what happens then."""

    timeout_seconds: float | None = Field(
        default=None, gt=0, description="How long the request stays pending; default and cap 900 s."
    )
    default_answer: Annotated[str, StringConstraints(max_length=MAX_RESPONSE_CHARS)] | None = Field(
        default=None, description="Returned as the response if the request expires."
    )
    agent_name: Name | None = Field(default=None, description="Names the asking agent.")
    wait: bool = Field(default=True, description="Block until the human answers (false: return the id).")


class InputRequestCreate(RequestOptions):
    """Body of ``POST /api/v1/hitl/request``: a question for the human."""

    prompt: Prompt
    choices: list[Choice] | None = Field(default=None, max_length=MAX_CHOICES)
    placeholder_text: Annotated[str, StringConstraints(max_length=MAX_PLACEHOLDER_CHARS)] | None = None


class CompletionCreate(RequestOptions):
    """Body of ``POST /api/v1/hitl/complete``: a finished task that waits for the human's reply."""

    summary: Prompt


class NotificationCreate(WireModel):
    """Body of ``POST /api/v1/hitl/notify``: fire and forget."""

    message: Prompt
    agent_name: Name | None = None


class AnswerCreate(WireModel):
    """Body of ``POST /api/v1/hitl/requests/{id}/answer``."""

    response: Annotated[str, StringConstraints(max_length=MAX_RESPONSE_CHARS)]


class HitlRequest(BaseModel):
    """A request as the relay reports it, in any state."""

    id: str
    kind: Kind
    status: Status
    agent_id: str
    agent_name: str
    prompt: str = Field(description="The question, the notification message or the completion summary.")
    choices: list[str] = Field(default_factory=list)
    placeholder_text: str | None = None
    default_answer: str | None = None
    response: str | None = None
    answered_by: str | None = None
    created_at: datetime
    expires_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        """True once the request left ``pending``."""
        return self.status in FINAL_STATUSES


class RequestList(BaseModel):
    """Answer of ``GET /api/v1/hitl/requests``."""

    requests: list[HitlRequest]


class NotifyResult(BaseModel):
    """Answer of ``POST /api/v1/hitl/notify``."""

    status: str = "Notification sent"
    request: HitlRequest


class Event(BaseModel):
    """One entry of the event log; ``seq`` increases by one source of truth, the store."""

    seq: int
    type: EventType
    at: datetime
    request: HitlRequest


class EventFrame(BaseModel):
    """WebSocket frame carrying an event: ``{"type": "event", "seq", "event"}``."""

    type: Literal["event"] = "event"
    seq: int
    event: Event


class CommandFrame(WireModel):
    """WebSocket frame from an approver: ``answer`` or ``cancel`` a request, or ``ping``."""

    id: int | str
    type: Literal["answer", "cancel", "ping"]
    request_id: str | None = None
    response: Annotated[str, StringConstraints(max_length=MAX_RESPONSE_CHARS)] | None = None


class ErrorBody(BaseModel):
    """The ``error`` member of an error answer."""

    code: str
    message: str
    details: Any = None


class ResultFrame(BaseModel):
    """WebSocket answer to a command: ``{"id", "type": "result", "ok", "result" | "error"}``."""

    id: int | str | None
    type: Literal["result"] = "result"
    ok: bool
    result: Any = None
    error: ErrorBody | None = None


class ErrorResponse(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}, "detail": message}``."""

    error: ErrorBody
    detail: str


class Agent(BaseModel):
    """An agent that asks through the relay; ``id`` and ``agent_id`` are the same value."""

    id: str
    agent_id: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None = None


class AgentCreate(WireModel):
    """Body of ``POST /api/v1/agents``."""

    name: Name


class ApiKeyCreate(WireModel):
    """Body of ``POST /api/v1/api-keys``: a key for the named agent (created if new)."""

    agent_name: Name = "default"
    label: Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)] | None = None


class ApiKeyInfo(BaseModel):
    """An API key as listed: never the key itself, only its display prefix."""

    prefix: str
    agent_id: str
    agent_name: str
    label: str | None = None
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyInfo):
    """Answer of ``POST /api/v1/api-keys``: the only time the key is shown."""

    api_key: str


class ApiKeyList(BaseModel):
    """Answer of ``GET /api/v1/api-keys``."""

    api_keys: list[ApiKeyInfo]


class Health(BaseModel):
    """Answer of ``/healthz``."""

    status: Literal["ok"] = "ok"
    version: str
    pending: int
