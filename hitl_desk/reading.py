"""What an approver can read of a request: encrypted ones are opened here, once each.

Approvers keep requests exactly as the relay sent them (an answer is sealed against that
original) and show them through ``RequestReader.view``, which decrypts an encrypted request the
first time it is shown and keeps the outcome by request id.  A queue of 10,000 therefore costs
one decryption per row that is ever drawn, and a redraw costs a dict lookup.  A request the
approver cannot open (no desk key, a changed agent key, tampering, a replayed envelope) becomes
a ``Readable`` with a ``problem`` instead of an exception.

Every approver (the TUI, the tray) reads through this one module, so they say the same thing
about the same request; how each words it on screen stays with the approver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import islice

from nacl.public import Box

from hitl_desk.crypto import (
    AgentNameConflictError,
    BindingError,
    DecryptionError,
    KeyChangedError,
    check_binding,
    open_json,
)
from hitl_desk.e2ee import DeskEncryption, Opened, open_text_reply
from hitl_desk.errors import HitlError, KeyMissingError
from hitl_desk.models import CANCEL_REASON_TEXT, HitlRequest

log = logging.getLogger(__name__)

LOCK = "🔒"
CACHE_LIMIT = 30_000
"""Opened requests kept; past it the oldest quarter is dropped (opened again if shown again)."""
NO_DESK_KEY = ("This approver does not have the desk key, so it cannot read encrypted requests "
               "(pair it with the desk that made the key).")
UNVERIFIED = "unverified envelope"

NAME_CONFLICT = "different key for a known name"
_PROBLEMS: tuple[tuple[type[HitlError], str], ...] = (
    (AgentNameConflictError, NAME_CONFLICT + " (possible impersonation)"),
    (KeyChangedError, "the agent's key changed"),
    (BindingError, "replayed or swapped envelope"),
    (DecryptionError, "wrong key or tampered"),
    (KeyMissingError, "the request names no agent key"),
)


@dataclass(frozen=True)
class Readable:
    """A request as an approver can show it."""

    request: HitlRequest
    """The request with its content decrypted: what is shown (never what is answered)."""
    sealed: bool = False
    """Encrypted end to end: the relay holds ciphertext only."""
    bound: bool = True
    """False for hitl-cli's envelopes, which carry no request id: an unverified envelope."""
    problem: str | None = None
    """Why it cannot be read, in a few words (None: it can)."""
    error: HitlError | None = None
    """What opening it raised; its message is the full explanation."""
    new_key: str | None = None
    """The agent key's fingerprint when this request was its first use (the key was pinned now)."""

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
        marker = f"{LOCK} " if self.bound else f"{LOCK} {UNVERIFIED} · "
        if self.new_key is not None:  # trust on first use: show what was trusted
            marker += f"new key {self.new_key} · "
        return marker

    @property
    def line(self) -> str:
        """The marker and the text on one line."""
        return self.marker + " ".join(self.request.prompt.split())

    @property
    def detail(self) -> str:
        """The full explanation of why it cannot be read, with the command that fixes it when
        there is one ("" when it can be read)."""
        if self.problem is None:
            return ""
        return self.error.message if self.error is not None else NO_DESK_KEY


def plain(request: HitlRequest) -> Readable:
    """Show a request as the relay sent it (for callers that decrypt nothing)."""
    return Readable(request)


@dataclass(frozen=True)
class _Opened:
    """One decryption's outcome for a request id, and the view last made from it."""

    payload: str
    opened: Opened | None
    problem: str | None
    error: HitlError | None
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
        """Read with ``desk`` from now on; a different key than before forgets what was opened.

        The same key keeps the desk in use: it remembers how each open request was sealed.
        """
        if self.desk is not None and self.desk.keys == desk.keys:
            return
        self.desk = desk
        self._cache.clear()
        self._boxes.clear()

    def forget(self, request_id: str) -> None:
        """Drop what was opened of a request that closed."""
        self._cache.pop(request_id, None)

    def forget_failures(self) -> None:
        """Try the requests that could not be read again (a key may have been re-trusted)."""
        self._cache = {k: v for k, v in self._cache.items() if v.problem is None}

    def view(self, request: HitlRequest) -> Readable:
        """The request as this approver shows it (plain requests as they are)."""
        payload = request.encrypted_payload
        if payload is None:
            return Readable(request)
        entry = self._cache.get(request.id)
        # `==` too: a new snapshot of an unchanged request (a resync) keeps its view.
        if entry is not None and (entry.source is request or entry.source == request):
            return entry.view
        if entry is None or entry.payload != payload:
            entry = self._open(request, payload)
        else:  # a newer state of the same request (answered, say): the content is known
            view = self._build(request, entry.opened, entry.problem, entry.error)
            entry = _Opened(payload, entry.opened, entry.problem, entry.error, request, view)
        self._remember(request.id, entry)
        return entry.view

    def _open(self, request: HitlRequest, payload: str) -> _Opened:
        opened: Opened | None = None
        problem: str | None = None
        error: HitlError | None = None
        if self.desk is None or self.desk.keys is None:
            problem, error = "no desk key on this approver", KeyMissingError(NO_DESK_KEY)
        else:
            try:
                opened = self.desk.open(request)
            except HitlError as exc:
                problem = next((words for cls, words in _PROBLEMS if isinstance(exc, cls)), exc.code)
                error = exc
                log.info("request %s cannot be read: %s", request.id, problem)
        view = self._build(request, opened, problem, error)
        return _Opened(payload, opened, problem, error, request, view)

    def _build(self, request: HitlRequest, opened: Opened | None, problem: str | None,
               error: HitlError | None) -> Readable:
        if opened is None:
            return Readable(request, sealed=True, problem=problem, error=error)
        update: dict[str, object] = {"prompt": opened.prompt, "choices": opened.choices,
                                     "placeholder_text": opened.placeholder_text}
        if request.encrypted_response is not None and request.response is None:
            update["response"] = self._open_response(request, request.encrypted_response, opened.bound)
        return Readable(request.model_copy(update=update), sealed=True, bound=opened.bound, new_key=opened.new_key)

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


def why_gone(request: HitlRequest) -> str:
    """Why a cancelled request went (``agent left``, ``dismissed`` …), or "" when it did not say."""
    if request.status != "cancelled" or request.cancel_reason is None:
        return ""
    return CANCEL_REASON_TEXT.get(request.cancel_reason, request.cancel_reason)
