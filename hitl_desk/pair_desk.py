"""The desk's whole pairing, as ``hitl-desk pair``, the TUI and the tray run it.

``hitl_desk.handshake.DeskHandshake`` holds the protocol's steps; this module is the flow around
them that every desk-side front end shares: make sure this machine holds the desk key, open the
pairing, show the link, wait for the device, let the human compare the codes, then deliver the desk
key sealed, or stop the pairing (codes differ, cancelled, interrupted) so the device hears why.
Front ends differ only in how they show the link and the code and how they ask the human.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hitl_desk.client import RelayClient
from hitl_desk.crypto import fingerprint
from hitl_desk.device import PairingState
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import KeyMissingError, PairingCodeMismatchError
from hitl_desk.handshake import DeskHandshake
from hitl_desk.pairing import PairingLink
from hitl_desk.settings import Settings


def spaced(code: str) -> str:
    """A 6-digit code as people read it aloud: ``123 456``."""
    return f"{code[:3]} {code[3:]}"


@dataclass(frozen=True)
class JoinedDevice:
    """A device that joined and proved it saw the link, with the code both screens show."""

    name: str
    """As the device named itself: hostile text, show it only through ``hitl_desk.display``."""
    key_fingerprint: str
    code: str


@dataclass(frozen=True)
class PairedDevice:
    """The outcome of a confirmed pairing."""

    device_id: str
    name: str


ShowLink = Callable[[PairingLink], Awaitable[None] | None]
Decide = Callable[[JoinedDevice], Awaitable[bool]]


async def _maybe(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


async def pair_on_desk(client: RelayClient, settings: Settings, show: ShowLink, decide: Decide, *,
                       device_url: str | None = None) -> PairedDevice:
    """Run a pairing on the desk: ``show`` gets the link, ``decide`` whether the codes match.

    Raises ``PairingCodeMismatchError`` when the human says no; any other way out (an error,
    a cancelled task) stops the pairing on the relay first, so the device is told."""
    desk = await DeskEncryption.ensure(client, settings)
    if desk.keys is None:
        raise KeyMissingError("This machine does not hold the desk key, so it cannot share it: run "
                              "`hitl-desk pair` on the desk that made it.")
    handshake = DeskHandshake(client, desk.keys, device_url)
    link = await handshake.start()
    finished = False
    try:
        await _maybe(show(link))
        joined: PairingState = await handshake.device_joined()
        code = await handshake.reveal()
        device = JoinedDevice(joined.device_name or "?", fingerprint(joined.verify_key or ""), code)
        if not await decide(device):
            finished = True
            await handshake.stop("codes_differ")
            raise PairingCodeMismatchError("You said the codes differ: pairing stopped, nothing was shared.")
        device_id = await handshake.confirm(code)
        finished = True
    finally:
        if not finished:
            await asyncio.shield(handshake.stop("cancelled"))
    return PairedDevice(device_id, device.name)
