"""Open pairings, kept in memory for their 5 minutes: the relay's half of DESIGN.md §7.

The relay orders the steps and relays public values; it never holds the link's secret, so it
cannot forge a MAC, and it cannot read the desk key it relays (sealed to the device's key).
It does check what it can: commitments against revealed nonces, and the confirmed code against
the one both screens show.  A pairing works once: a second join is ``pairing_used``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hitl_desk.device import DeskReveal, NonceReveal, PairingDelivery, PairingJoin, PairingStart, PairingState
from hitl_desk.errors import (
    HitlError,
    PairingCodeMismatchError,
    PairingExpiredError,
    PairingFailedError,
    PairingNotFoundError,
    PairingUsedError,
    RateLimitedError,
    error_from_payload,
)
from hitl_desk.models import ErrorBody
from hitl_desk.pairing import PAIRING_TTL, commitment_holds, verification_code

MAX_OPEN = 8
"""Pairings open at once; more are refused until one finishes or expires."""
KEEP_FINISHED = 60.0
"""Seconds a pairing stays readable after it expired (a device fetching its result late)."""
FINAL = ("paired", "failed")


class _Pairing:
    """One pairing: its public state and a way to wait for its next step."""

    def __init__(self, state: PairingState, expires: float) -> None:
        self.state = state
        self.expires = expires
        self.changed = asyncio.Event()
        self.delivering = False

    def update(self, **fields: object) -> PairingState:
        self.state = self.state.model_copy(update={**fields, "version": self.state.version + 1})
        self.changed.set()
        self.changed = asyncio.Event()
        return self.state


class PairingBook:
    """Every open pairing of this relay."""

    def __init__(self, ttl: float = PAIRING_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock
        self._open: dict[str, _Pairing] = {}

    def start(self, body: PairingStart, device_url: str | None) -> PairingState:
        """Open a pairing with the desk's commitment."""
        now = self.clock()
        self._purge(now)
        if sum(1 for p in self._open.values() if p.state.status not in FINAL) >= MAX_OPEN:
            raise RateLimitedError(f"{MAX_OPEN} pairings are open already: finish one or let it expire.")
        pairing_id = "pair_" + secrets.token_hex(8)
        state = PairingState(pairing_id=pairing_id, status="waiting", version=0, device_url=device_url,
                             expires_at=datetime.fromtimestamp(now + self.ttl, UTC),
                             desk_commitment=body.desk_commitment)
        self._open[pairing_id] = _Pairing(state, now + self.ttl)
        return state

    def get(self, pairing_id: str) -> PairingState:
        """A pairing's current state (a finished one stays readable a little past its expiry)."""
        return self._find(pairing_id).state

    async def wait(self, pairing_id: str, after: int, timeout: float) -> PairingState:
        """The state once its version is above ``after``, or as it is after ``timeout`` seconds."""
        pairing = self._find(pairing_id)
        if pairing.state.version <= after and timeout > 0:
            try:
                async with asyncio.timeout(min(timeout, max(0.0, pairing.expires + KEEP_FINISHED - self.clock()))):
                    while pairing.state.version <= after:
                        await pairing.changed.wait()
            except TimeoutError:
                pass  # the state as it is: the caller asks again
        return pairing.state

    def join(self, pairing_id: str, body: PairingJoin) -> PairingState:
        """The device's keys and commitment (its MAC is the desk's to check: only it holds the secret)."""
        pairing = self._step(pairing_id, "waiting", used=True)
        return pairing.update(status="joined", device_name=body.name, box_public_key=body.box_public_key,
                              verify_key=body.verify_key, device_commitment=body.commitment, device_mac=body.mac)

    def reveal_device(self, pairing_id: str, body: NonceReveal) -> PairingState:
        """The device's nonce, which must be the one it committed to."""
        pairing = self._step(pairing_id, "joined")
        state = pairing.state
        if not commitment_holds(state.device_commitment, "device", body.nonce, state.box_public_key or "",
                                state.verify_key or ""):
            raise self._fail(pairing, PairingFailedError("The device's nonce is not the one it committed to."))
        return pairing.update(status="revealed", device_nonce=body.nonce)

    def reveal_desk(self, pairing_id: str, body: DeskReveal) -> PairingState:
        """The desk's nonce and key, which must be what it committed to."""
        pairing = self._step(pairing_id, "revealed")
        if not commitment_holds(pairing.state.desk_commitment, "desk", body.nonce, body.desk_public_key):
            raise self._fail(pairing, PairingFailedError("The desk's nonce is not the one it committed to."))
        return pairing.update(status="desk_revealed", desk_nonce=body.nonce, desk_public_key=body.desk_public_key,
                              desk_mac=body.mac)

    def confirm(self, pairing_id: str, code: str) -> PairingState:
        """The human confirms the code both screens show; any other code voids the pairing."""
        pairing = self._step(pairing_id, "desk_revealed")
        s = pairing.state
        expected = verification_code(s.pairing_id, s.desk_public_key or "", s.box_public_key or "",
                                     s.verify_key or "", s.desk_nonce or "", s.device_nonce or "")
        if code != expected:
            raise self._fail(pairing, PairingCodeMismatchError(
                "That is not the code of this pairing: pairing stopped, nothing was shared. Start again."))
        return pairing.update(status="confirmed")

    def stop(self, pairing_id: str, error: HitlError) -> PairingState:
        """End a pairing that has not finished (codes differ, cancelled on the desk, a bad MAC)."""
        pairing = self._find(pairing_id)
        if pairing.state.status in FINAL:
            raise PairingUsedError("This pairing has finished already.")
        self._fail(pairing, error)
        return pairing.state

    def begin_delivery(self, pairing_id: str) -> PairingState:
        """Claim the one delivery of a confirmed pairing (the device is made once)."""
        pairing = self._step(pairing_id, "confirmed")
        if pairing.delivering:
            raise PairingUsedError("The desk key is being delivered already.")
        pairing.delivering = True
        return pairing.state

    def deliver(self, pairing_id: str, body: PairingDelivery, device_id: str) -> PairingState:
        """Hand the sealed desk key to the device: the pairing is done."""
        pairing = self._find(pairing_id)
        return pairing.update(status="paired", sealed_desk_key=body.sealed_desk_key, delivery_mac=body.mac,
                              device_id=device_id)

    def abandon_delivery(self, pairing_id: str, error: HitlError) -> None:
        """A delivery that failed halfway voids the pairing."""
        pairing = self._open.get(pairing_id)
        if pairing is not None and pairing.state.status not in FINAL:
            self._fail(pairing, error)

    # -- internals --------------------------------------------------------------------------

    def _find(self, pairing_id: str) -> _Pairing:
        self._purge(self.clock())
        pairing = self._open.get(pairing_id)
        if pairing is None:
            raise PairingNotFoundError()
        return pairing

    def _step(self, pairing_id: str, status: str, *, used: bool = False) -> _Pairing:
        """The pairing, if it is live and at ``status``; otherwise the error that says why not."""
        pairing = self._find(pairing_id)
        state = pairing.state
        if state.status == "failed" and not used:
            assert state.failure is not None
            raise _error_of(state.failure)
        if state.status != status and (used or state.status in FINAL):
            raise PairingUsedError()
        if state.status != status:
            raise PairingFailedError(f"That pairing step is out of order (the pairing is {state.status}).")
        if self.clock() > pairing.expires:
            raise self._fail(pairing, PairingExpiredError())
        return pairing

    def _fail(self, pairing: _Pairing, error: HitlError) -> HitlError:
        pairing.update(status="failed", failure=ErrorBody.of(error))
        return error

    def _purge(self, now: float) -> None:
        for pairing_id, pairing in list(self._open.items()):
            if now > pairing.expires + KEEP_FINISHED:
                del self._open[pairing_id]


def _error_of(body: ErrorBody) -> HitlError:
    """The catalog error a failed pairing recorded."""
    return error_from_payload(409, {"error": body.model_dump()})
