"""The tray's end of the desk key: it reads through ``hitl_desk.reading`` and answers sealed.

The menu, the tooltip and the notifications show requests through ``TrayReader.view`` (each
encrypted request opened once); what this module adds is the tray's own part: the desk key
from its home, made on connect if the tray is the first approver, and the refusal to answer a
request the human could not read.
"""

from __future__ import annotations

import logging

from hitl_desk.client import RelayClient
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import HitlError, KeyMissingError
from hitl_desk.models import HitlRequest
from hitl_desk.reading import NO_DESK_KEY, RequestReader
from hitl_desk.settings import Settings

log = logging.getLogger(__name__)


class TrayReader(RequestReader):
    """Opens encrypted requests once each with the desk key in ``settings``, and seals answers."""

    def __init__(self, settings: Settings | None) -> None:
        super().__init__(DeskEncryption.load(settings) if settings else None)
        self.settings = settings
        """The home that holds the desk key; None: this tray reads no encrypted request."""
        self.desk_ensured = False
        """The desk key is here and the relay serves it: not checked again."""

    async def ensure_desk(self, client: RelayClient) -> None:
        """Make the desk key if no approver has yet (the tray is the first) and register it.

        Called on every (re)connect until it worked once, so a relay that was down at start
        gets the key when it is back. Where another approver made the key, the tray stays
        unable to read until the key reaches it by pairing (``DeskEncryption.ensure`` makes
        none then: a new one would lock out every agent that pinned the real one).
        """
        if self.settings is None or self.desk_ensured:
            return
        try:
            desk = await DeskEncryption.ensure(client, self.settings)
        except HitlError as exc:
            log.warning("desk key not ensured, trying again on the next connect: %s", exc.message)
            return
        self.desk_ensured = desk.keys is not None
        self.use(desk)

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
