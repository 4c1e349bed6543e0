"""What the tray can read of a request: encrypted ones are opened here, once each, and
answered sealed.

The tray keeps requests exactly as the relay sent them (an answer is sealed against that
original); the menu, the tooltip and the notifications show them through
``RequestReader.view``, which decrypts an encrypted request the first time it is shown and
keeps the outcome by request id, so a redraw costs a dict lookup.  A request the tray cannot
open (no desk key, a changed agent key, tampering, a replayed envelope) becomes a ``Readable``
with a ``problem`` instead of an exception, and is never answered from the tray.

The wording follows the TUI's reader (``tui/reader.py``); both are approvers of the same desk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import islice

from hitl_desk.client import RelayClient
from hitl_desk.crypto import BindingError, DecryptionError, KeyChangedError
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import HitlError, KeyMissingError
from hitl_desk.keyring import desk_key_path, load_keypair
from hitl_desk.models import HitlRequest
from hitl_desk.settings import Settings

log = logging.getLogger(__name__)

LOCK = "🔒"
CACHE_LIMIT = 30_000
"""Opened requests kept; past it the oldest quarter is dropped (opened again if shown again)."""
NO_DESK_KEY = ("This approver does not have the desk key, so it cannot read encrypted requests "
               "(pair it with the desk that made the key).")
UNVERIFIED = "unverified envelope"

_PROBLEMS: tuple[tuple[type[HitlError], str], ...] = (
    (KeyChangedError, "the agent's key changed"),
    (BindingError, "replayed or swapped envelope"),
    (DecryptionError, "wrong key or tampered"),
    (KeyMissingError, "the request names no agent key"),
)


@dataclass(frozen=True)
class Readable:
    """A request as the tray can show it."""

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
        return f"{LOCK} " if self.bound else f"{LOCK} {UNVERIFIED} · "

    @property
    def line(self) -> str:
        """The marker and the text on one line."""
        return self.marker + " ".join(self.request.prompt.split())

    @property
    def detail(self) -> str:
        """The full explanation of why it cannot be read ("" when it can)."""
        if self.problem is None:
            return ""
        return self.error.message if self.error is not None else NO_DESK_KEY


def plain(request: HitlRequest) -> Readable:
    """Show a request as the relay sent it (for callers that decrypt nothing)."""
    return Readable(request)


@dataclass(frozen=True)
class _Opened:
    """One decryption's outcome for a request id."""

    payload: str
    view: Readable


class RequestReader:
    """The tray's end of the desk key: opens encrypted requests once each, seals answers."""

    def __init__(self, settings: Settings | None) -> None:
        self.settings = settings
        """The home that holds the desk key; None: this tray reads no encrypted request."""
        self.desk: DeskEncryption | None = DeskEncryption.load(settings) if settings else None
        self.desk_ensured = False
        """The desk key is here and the relay serves it: not checked again."""
        self._cache: dict[str, _Opened] = {}

    @property
    def has_desk_key(self) -> bool:
        """Whether the tray holds the desk key (it can read and answer encrypted requests)."""
        return self.desk is not None and self.desk.keys is not None

    async def ensure_desk(self, client: RelayClient) -> None:
        """Make the desk key if no approver has yet (the tray is the first) and register it.

        Called on every (re)connect until it worked once, so a relay that was down at start
        gets the key when it is back. A relay that already serves a desk key while this home
        has none means another approver made it: a new key here would replace it on the relay
        and lock out every agent that pinned the real one, so the tray stays unable to read
        until the key reaches it by pairing.
        """
        if self.settings is None or self.desk_ensured:
            return
        try:
            served = await client.desk_public_key(missing_ok=True)
            if served and load_keypair(desk_key_path(self.settings)) is None:
                desk = DeskEncryption.load(self.settings)
            else:
                desk = await DeskEncryption.ensure(client, self.settings)
        except HitlError as exc:
            log.warning("desk key not ensured, trying again on the next connect: %s", exc.message)
            return
        self.desk_ensured = desk.keys is not None
        old = self.desk
        if old is None or old.keys != desk.keys:
            self.desk = desk
            self._cache.clear()

    def view(self, request: HitlRequest) -> Readable:
        """The request as the tray shows it (plain requests as they are)."""
        payload = request.encrypted_payload
        if payload is None:
            return Readable(request)
        entry = self._cache.get(request.id)
        if entry is None or entry.payload != payload:
            entry = _Opened(payload, self._open(request))
            self._remember(request.id, entry)
        return entry.view

    def _open(self, request: HitlRequest) -> Readable:
        """Decrypt ``request``; a failure becomes the ``problem`` of the view."""
        if self.desk is None or self.desk.keys is None:
            return Readable(request, sealed=True, problem="no desk key on this approver",
                            error=KeyMissingError(NO_DESK_KEY))
        try:
            opened = self.desk.open(request)
        except HitlError as exc:
            problem = next((words for cls, words in _PROBLEMS if isinstance(exc, cls)), exc.code)
            log.info("request %s cannot be read: %s", request.id, problem)
            return Readable(request, sealed=True, problem=problem, error=exc)
        shown = request.model_copy(update={"prompt": opened.prompt, "choices": opened.choices,
                                           "placeholder_text": opened.placeholder_text})
        return Readable(shown, sealed=True, bound=opened.bound)

    def forget(self, request_id: str) -> None:
        """Drop what was opened of a request that closed."""
        self._cache.pop(request_id, None)

    def forget_failures(self) -> None:
        """Try the requests that could not be read again (a key may have been re-trusted)."""
        self._cache = {k: v for k, v in self._cache.items() if v.view.readable}

    def _remember(self, request_id: str, entry: _Opened) -> None:
        self._cache[request_id] = entry
        if len(self._cache) > CACHE_LIMIT:
            for stale in list(islice(self._cache, CACHE_LIMIT // 4)):
                del self._cache[stale]

    async def answer(self, client: RelayClient, request: HitlRequest, text: str) -> HitlRequest:
        """Answer ``request`` as the relay sent it: sealed to its agent when it is encrypted.

        Raises the error that kept an encrypted request from being read, rather than answer
        something the human could not have seen (or send the relay a plaintext answer).
        """
        if not request.encrypted:
            return await client.answer(request.id, text)
        view = self.view(request)
        if not view.readable or self.desk is None:
            raise view.error or KeyMissingError(NO_DESK_KEY)
        return await self.desk.answer(client, request, text)
