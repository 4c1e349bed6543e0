"""Wire models: every byte the relay sends or accepts is one of these.

Times on the wire are ISO 8601 UTC strings; ids are opaque strings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

from hitl_desk.action import ToolAction as ToolAction  # re-exported: requests carry it
from hitl_desk.errors import DefaultAnswerNotAChoiceError, HitlError
from hitl_desk.lifecycle import FINAL_STATUSES as FINAL_STATUSES
from hitl_desk.lifecycle import failure
from hitl_desk.lifecycle import new_request_id as new_request_id
from hitl_desk.wire import WireModel as WireModel  # re-exported: the base of every input model

MAX_PROMPT_CHARS = 20_000
MAX_CHOICES = 20
MAX_CHOICE_CHARS = 200
MAX_PLACEHOLDER_CHARS = 500
MAX_RESPONSE_CHARS = 20_000
MAX_NAME_CHARS = 100
MAX_BODY_BYTES = 1024 * 1024
MAX_TIMEOUT_SECONDS = 15 * 60  # the default cap; the relay's own cap is configurable
FALLBACK_AGENT = "default"
"""The agent a request or key is filed under when it names none."""
REQUEST_ID_PATTERN = r"^req_[0-9a-f]{20}$"

Kind = Literal["input", "completion", "notification"]
Status = Literal["pending", "answered", "expired", "cancelled", "delivered"]
"""``delivered`` is the one state of a notification: fire and forget, nothing to answer."""

CancelReason = Literal["agent_left", "agent_cancelled", "dismissed"]
"""Why a request was cancelled: its agent went away without coming back (hang-up, crash) within
the grace period, its agent withdrew it (Ctrl+C, ``hitl-desk cancel``), or a human dismissed it."""

CancelChoice = Literal["agent_cancelled", "dismissed"]
"""The reasons a caller may give when it cancels; ``agent_left`` is the relay's alone."""

CANCEL_REASON_TEXT: dict[str, str] = {
    "agent_left": "agent left",
    "agent_cancelled": "withdrawn by the agent",
    "dismissed": "dismissed",
}
"""How approvers word each reason (one line, no agent text)."""

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100

EventType = Literal["request.created", "request.answered", "request.expired", "request.cancelled"]

MAX_ENVELOPE_CHARS = 4 * (MAX_PROMPT_CHARS * 6 + 4096) // 3
Envelope = Annotated[str, StringConstraints(min_length=56, max_length=MAX_ENVELOPE_CHARS,
                                            pattern=r"^[A-Za-z0-9+/]+={0,2}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_CHARS)]
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]
Choice = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHOICE_CHARS)]


class RequestOptions(WireModel):
    """What an agent may say about how long a question waits and what happens then."""

    timeout_seconds: float | None = Field(default=None, gt=0,
                                          description="How long the request stays pending; default and cap 900 s.")
    default_answer: Annotated[str, StringConstraints(max_length=MAX_RESPONSE_CHARS)] | None = Field(
        default=None, description="Returned as the response if the request expires.")
    agent_name: Name | None = Field(default=None, description="Names the asking agent.")
    wait: bool = Field(default=True, description="Block until the human answers (false: return the id).")


class InputRequestCreate(RequestOptions):
    """Body of ``POST /api/v1/hitl/request``: a question for the human."""

    prompt: Prompt
    choices: list[Choice] | None = Field(default=None, max_length=MAX_CHOICES)
    placeholder_text: Annotated[str, StringConstraints(max_length=MAX_PLACEHOLDER_CHARS)] | None = None
    action: ToolAction | None = Field(default=None, description="An approval: the tool call it is about.")

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> InputRequestCreate:
        # Raised as the catalog error itself (not a ValueError, which pydantic would fold into
        # invalid_request), so the agent gets its own code for it.
        if self.choices and self.default_answer is not None and self.default_answer not in self.choices:
            raise DefaultAnswerNotAChoiceError(
                f"default_answer {self.default_answer!r} is not one of the choices "
                f"({', '.join(repr(c) for c in self.choices)}).")
        return self


class CompletionCreate(RequestOptions):
    """Body of ``POST /api/v1/hitl/complete``: a finished task that waits for the human's reply."""

    summary: Prompt


class NotificationCreate(WireModel):
    """Body of ``POST /api/v1/hitl/notify``: fire and forget."""

    message: Prompt
    agent_name: Name | None = None


class AnswerCreate(WireModel):
    """Body of ``POST /api/v1/hitl/requests/{id}/answer``: ``response``, or for an encrypted
    request ``encrypted_response``."""

    response: Annotated[str, StringConstraints(max_length=MAX_RESPONSE_CHARS)] | None = None
    encrypted_response: Envelope | None = None
    via: Name | None = Field(default=None, description="The approver answering (tui, tray, cli), for the audit log.")

    @model_validator(mode="after")
    def _one_of(self) -> AnswerCreate:
        if (self.response is None) == (self.encrypted_response is None):
            raise ValueError("give exactly one of response and encrypted_response")
        return self


class EncryptedCreate(WireModel):
    """Body of the ``*/e2ee`` routes: an envelope sealed for the desk key."""

    encrypted_payload: Envelope
    request_id: Annotated[str, StringConstraints(pattern=REQUEST_ID_PATTERN)] | None = Field(
        default=None, description="Chosen by our own clients so the id can be bound inside the envelope.")
    timeout_seconds: float | None = Field(default=None, gt=0)
    agent_name: Name | None = None
    wait: bool = True


class HitlRequest(BaseModel):
    """A request as the relay reports it, in any state; never changed (``model_copy`` makes a
    changed one), so its JSON is made once however many times it is sent (``wire_json``)."""

    __slots__ = ("_wire",)  # the JSON, once made; not a field, so equality and copies ignore it
    model_config = ConfigDict(frozen=True)

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
    encrypted_payload: str | None = Field(
        default=None, description="E2EE: the agent's envelope; the prompt is then empty.")
    encrypted_response: str | None = Field(default=None, description="E2EE: the human's answer, sealed.")
    agent_public_key: str | None = Field(default=None, description="E2EE: the agent key the payload was sealed with.")
    channel: Literal["rest", "mcp"] | None = Field(
        default=None, description="E2EE: where it came in; sets the reply format of unbound envelopes.")
    cancel_reason: CancelReason | None = Field(
        default=None, description="Why a cancelled request went: agent_left, agent_cancelled or dismissed.")
    action: ToolAction | None = Field(default=None, description="An approval: the tool call it is about.")

    def wire_json(self) -> str:
        """``model_dump_json()``, made once: a closed request goes to its agent, the approver that
        answered it and every approver's event stream."""
        return _kept(self, "_wire", self.model_dump_json)

    @property
    def encrypted(self) -> bool:
        """True when the relay holds only ciphertext for this request."""
        return self.encrypted_payload is not None

    @property
    def is_final(self) -> bool:
        """True once the request left ``pending``."""
        return self.status in FINAL_STATUSES

    def failure(self) -> HitlError | None:
        """The catalog error an asking caller gets for this request, None when it has an answer
        (the human's, or the default answer an expired request fell back to)."""
        return failure(self.id, self.status, self.response)

    def outcome(self) -> str:
        """What the asking caller gets: the answer text, or ``failure()`` raised (expired, cancelled)."""
        error = self.failure()
        if error is not None:
            raise error
        return self.response or ""


class RequestPage(BaseModel):
    """Answer of ``GET /api/v1/hitl/requests``: one page, and the cursor of the next one."""

    requests: list[HitlRequest]
    next_cursor: str | None = Field(
        default=None, description="Opaque; pass it as ?cursor= for the next page. null on the last page.")


class CancelCreate(WireModel):
    """Optional body of ``POST /api/v1/hitl/requests/{id}/cancel``: why it is cancelled.

    Without it an agent's cancel is ``agent_cancelled`` and the owner's ``dismissed``; only the
    owner may say ``dismissed`` (a human's decision), and ``agent_left`` is the relay's alone.
    """

    reason: CancelChoice | None = None


class NotifyResult(BaseModel):
    """Answer of ``POST /api/v1/hitl/notify``."""

    status: str = "Notification sent"
    request: HitlRequest


class EventBody(BaseModel):
    """What happened, as an event frame carries it (its ``seq`` is the frame's); never changed."""

    model_config = ConfigDict(frozen=True)

    type: EventType
    at: datetime
    request: HitlRequest


class Event(EventBody):
    """One entry of the event log; ``seq`` increases by one source of truth, the store."""

    __slots__ = ("_frame",)
    seq: int

    def frame_json(self) -> str:
        """``EventFrame.of(self).model_dump_json()``, made once around the request's own JSON:
        every approver socket sends these same characters."""
        return _kept(self, "_frame", lambda: (
            f'{{"type":"event","seq":{self.seq},"event":{{"type":"{self.type}",'
            f'"at":{_DATETIME.dump_json(self.at).decode()},"request":{self.request.wire_json()}}}}}'))


_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _kept(model: BaseModel, slot: str, make: Callable[[], str]) -> str:
    """The JSON in ``model``'s ``slot``, made by ``make`` the first time (models that keep one are
    frozen, so it never goes stale; a slot is not a field, so equality and copies ignore it)."""
    kept: str | None = getattr(model, slot, None)
    if kept is None:
        kept = make()
        object.__setattr__(model, slot, kept)  # frozen is for fields
    return kept


class ReadyFrame(BaseModel):
    """First WebSocket frame: the subscription is live; ``last_seq`` is the newest event."""

    type: Literal["ready"] = "ready"
    last_seq: int


class EventFrame(BaseModel):
    """WebSocket frame carrying an event: ``{"type": "event", "seq", "event"}``, ``seq`` once."""

    type: Literal["event"] = "event"
    seq: int
    event: EventBody

    @classmethod
    def of(cls, event: Event) -> EventFrame:
        """The frame for an event; serialised through the ``EventBody`` field, so ``seq`` is not repeated."""
        return cls(seq=event.seq, event=event)

    def to_event(self) -> Event:
        """The event the frame carries, with its ``seq`` back in place."""
        return Event(seq=self.seq, type=self.event.type, at=self.event.at, request=self.event.request)


class CommandFrame(WireModel):
    """WebSocket frame from an approver: ``cancel`` a request, or ``ping`` (answers go over REST)."""

    id: int | str
    type: Literal["cancel", "ping"]
    request_id: str | None = None


class ErrorBody(BaseModel):
    """The ``error`` member of an error answer, HTTP and WebSocket alike."""

    code: str
    message: str
    details: Any = Field(default=None, exclude_if=lambda details: details is None)

    @classmethod
    def of(cls, error: HitlError) -> ErrorBody:
        """The one builder of an error's wire body, from the catalog error itself."""
        return cls(code=error.code, message=error.message, details=error.details)


class ResultFrame(BaseModel):
    """WebSocket answer to a command: ``{"id", "type": "result", "ok", "result" | "error"}``."""

    id: int | str | None
    type: Literal["result"] = "result"
    ok: bool
    result: HitlRequest | Literal["pong"] | None = Field(
        default=None, description="The cancelled request, or pong for a ping.")
    error: ErrorBody | None = None


class ErrorResponse(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}, "detail": message}``."""

    error: ErrorBody
    detail: str

    @classmethod
    def of(cls, error: HitlError) -> ErrorResponse:
        """The HTTP error answer for a catalog error (its ``error`` built by ``ErrorBody.of``)."""
        return cls(error=ErrorBody.of(error), detail=error.message)


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

    agent_name: Name = FALLBACK_AGENT
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


class OwnerTokenRotated(BaseModel):
    """Answer of ``POST /api/v1/owner-token/rotate``: where the relay wrote the new credential.

    The credential itself never crosses the wire; the previous one is refused from now on.
    """

    path: str
    issued_at: float


class ApiKeyList(BaseModel):
    """Answer of ``GET /api/v1/api-keys``."""

    api_keys: list[ApiKeyInfo]


class Health(BaseModel):
    """Answer of ``/healthz``: ``degraded`` while the relay cannot write (its disk is full)."""

    status: Literal["ok", "degraded"] = "ok"
    version: str
    pending: int
    storage: Literal["ok", "full"] = "ok"
