"""What this approver can read of a request: encrypted ones are opened here, once each.

The state keeps requests exactly as the relay sent them (an answer is sealed against that
original); every screen shows them through ``RequestReader.view``, which decrypts an
encrypted request the first time it is shown and keeps the result by request id.  A queue of
10,000 therefore costs one decryption per row that is ever drawn, and a redraw costs a dict
lookup.  A request this approver cannot open (no desk key, a changed agent key, tampering, a
replayed envelope) becomes a ``Readable`` with a ``problem`` instead of an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from nacl.public import Box

from hitl_desk.crypto import (
    BindingError,
    DecryptionError,
    KeyChangedError,
    check_binding,
    open_json,
)
from hitl_desk.e2ee import DeskEncryption, Opened, open_text_reply
from hitl_desk.errors import HitlError, KeyMissingError
from hitl_desk.models import HitlRequest

LOCK = "🔒"
CACHE_LIMIT = 30_000
"""Opened requests kept; past it the oldest quarter is dropped (opened again if shown again)."""
NO_DESK_KEY = ("This approver does not have the desk key, so it cannot read encrypted requests "
               "(pair it with the desk that made the key).")

_PROBLEMS: tuple[tuple[type[HitlError], str], ...] = (
    (KeyChangedError, "the agent's key changed"),
    (BindingError, "replayed or swapped envelope"),
    (DecryptionError, "wrong key or tampered"),
    (KeyMissingError, "the request names no agent key"),
)


@dataclass(frozen=True)
class Readable:
    """A request as this approver can show it."""

    request: HitlRequest
    """The request with its content decrypted: what the screens show (never what is answered)."""
    sealed: bool = False
    """Encrypted end to end: the relay holds ciphertext only."""
    bound: bool = True
    """False for hitl-cli's envelopes, which carry no request id: an unverified envelope."""
    problem: str | None = None
    """Why it cannot be read, in a few words (None: it can)."""
    detail: str | None = None
    """The full explanation, with the command that fixes it when there is one."""

    @property
    def readable(self) -> bool:
        """Whether the content is known here (so it may be answered)."""
        return self.problem is None

    @property
    def marker(self) -> str:
        """What a one-line view puts before the text: the lock, and why it cannot be read."""
        if not self.sealed:
            return ""
        if self.problem is not None:
            return f"{LOCK} cannot read: {self.problem}"
        return f"{LOCK} " if self.bound else f"{LOCK} unverified envelope · "

    @property
    def line(self) -> str:
        """The marker and the text on one line."""
        return self.marker + " ".join(self.request.prompt.split())

    @property
    def label(self) -> str:
        """How it travelled, for a detail's heading: ``🔒 E2EE`` and what is wrong, or nothing."""
        if not self.sealed:
            return ""
        if not self.readable:
            return f"{LOCK} cannot read"
        return f"{LOCK} E2EE" if self.bound else f"{LOCK} E2EE, unverified envelope"

    @property
    def text(self) -> str:
        """The full text (Markdown), or why it cannot be read."""
        return self.request.prompt if self.readable else f"**{self.marker}**\n\n{self.detail}"


@dataclass(frozen=True)
class _Opened:
    """One decryption's outcome for a request id, and the view last made from it."""

    payload: str
    opened: Opened | None
    problem: str | None
    detail: str | None
    source: HitlRequest
    view: Readable


class RequestReader:
    """Decrypts encrypted requests for display, once per request id."""

    def __init__(self, desk: DeskEncryption | None) -> None:
        self.desk = desk
        self._cache: dict[str, _Opened] = {}
        self._boxes: dict[str, Box] = {}

    @property
    def has_desk_key(self) -> bool:
        """Whether this approver holds the desk key (it can read and answer encrypted requests)."""
        return self.desk is not None and self.desk.keys is not None

    def use(self, desk: DeskEncryption) -> None:
        """Read with another desk (the key was just made or loaded): forget what was opened."""
        self.desk = desk
        self._cache.clear()
        self._boxes.clear()

    def forget_failures(self) -> None:
        """Try the requests that could not be read again (a key may have been re-trusted)."""
        self._cache = {k: v for k, v in self._cache.items() if v.problem is None}

    def view(self, request: HitlRequest) -> Readable:
        """The request as this approver shows it (plain requests as they are)."""
        payload = request.encrypted_payload
        if payload is None:
            return Readable(request)
        entry = self._cache.get(request.id)
        if entry is not None and entry.source is request:
            return entry.view
        if entry is None or entry.payload != payload:
            entry = self._open(request, payload)
        else:  # a newer state of the same request (answered, say): the content is known
            entry = _Opened(payload, entry.opened, entry.problem, entry.detail, request,
                            self._build(request, entry.opened, entry.problem, entry.detail))
        self._remember(request.id, entry)
        return entry.view

    def _open(self, request: HitlRequest, payload: str) -> _Opened:
        opened: Opened | None = None
        problem = detail = None
        if not self.has_desk_key:
            problem, detail = "no desk key on this approver", NO_DESK_KEY
        else:
            assert self.desk is not None
            try:
                opened = self.desk.open(request)
            except HitlError as exc:
                problem = next((words for cls, words in _PROBLEMS if isinstance(exc, cls)), exc.code)
                detail = exc.message
        return _Opened(payload, opened, problem, detail, request, self._build(request, opened, problem, detail))

    def _build(self, request: HitlRequest, opened: Opened | None, problem: str | None,
               detail: str | None) -> Readable:
        if opened is None:
            return Readable(request, sealed=True, problem=problem, detail=detail)
        update: dict[str, object] = {"prompt": opened.prompt, "choices": opened.choices, "placeholder_text": opened.placeholder_text}
        if request.encrypted_response is not None and request.response is None:
            update["response"] = self._open_response(request, request.encrypted_response, opened.bound)
        return Readable(request.model_copy(update=update), sealed=True, bound=opened.bound)

    def _open_response(self, request: HitlRequest, envelope: str, bound: bool) -> str:
        """The answer as whoever sealed it wrote it (the desk's Box opens both directions)."""
        assert self.desk is not None and self.desk.keys is not None and request.agent_public_key
        box = self._boxes.get(request.agent_public_key)
        try:
            if box is None:
                box = self._boxes[request.agent_public_key] = self.desk.keys.box(request.agent_public_key)
            if bound:
                data = check_binding(open_json(box, envelope), request.id,
                                     not_before=request.created_at.timestamp())
                return str(data.get("response", ""))
            return open_text_reply(box, envelope)
        except HitlError:
            return f"{LOCK} (the answer cannot be read)"

    def _remember(self, request_id: str, entry: _Opened) -> None:
        self._cache[request_id] = entry
        if len(self._cache) > CACHE_LIMIT:
            for stale in list(islice(self._cache, CACHE_LIMIT // 4)):
                del self._cache[stale]
