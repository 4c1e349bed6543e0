"""Pair a device from the TUI: the QR code and link, the device's code, the human's yes or no.

The flow is ``hitl_desk.pair_desk.pair_on_desk``, the one ``hitl-desk pair`` runs; this screen
only shows the link (a QR code drawn with half blocks, and the text) and asks the human whether
the device shows the same code.  The device's name is network text: every ``Static`` here is
``markup=False`` and names go through ``visible_line``.  Closing the dialog while a pairing runs
cancels it on the relay, so the device is told.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError, PairingFailedError
from hitl_desk.pair_desk import JoinedDevice, PairedDevice, spaced
from hitl_desk.pairing import PairingLink
from tui.screens.modals import DeskModal

_BLOCKS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


def qr_text(text: str, border: int = 2) -> str:
    """``text`` as a QR code in half blocks, two module rows a line.

    Light modules are drawn (the text colour) and dark ones left blank, so the code reads right as
    light text on the dark background the dialog gives it; the border is a light quiet zone."""
    import segno  # only pairing draws QR codes

    rows = [[not dark for dark in row] for row in segno.make(text, error="l").matrix_iter(border=border)]
    if len(rows) % 2:
        rows.append([True] * len(rows[0]))
    return "\n".join("".join(_BLOCKS[top, bottom] for top, bottom in zip(rows[i], rows[i + 1], strict=True))
                     for i in range(0, len(rows), 2))


class PairingModal(DeskModal[PairedDevice | None]):
    """Start a pairing, show its QR code and link, then the device's code: ``y`` confirms, ``n`` refuses."""

    DEFAULT_CSS = """
    PairingModal #pair-qr { width: auto; height: auto; color: white; background: black; }
    PairingModal #pair-link { height: auto; }
    PairingModal #pair-status { height: auto; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "decide(True)", "Codes match"), Binding("n", "decide(False)", "Codes differ"),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.link: PairingLink | None = None
        self.joined: JoinedDevice | None = None
        self.paired: PairedDevice | None = None
        self.failed: HitlError | None = None
        self._decision: asyncio.Future[bool] | None = None

    def compose(self) -> ComposeResult:
        """QR code, link, and what the pairing is waiting for."""
        with Vertical(classes="dialog wide") as box:
            box.border_title = "Pair a device"
            yield Static("", id="pair-qr", markup=False)
            yield Static("", id="pair-link", markup=False)
            yield Static("Opening a pairing on the relay…", id="pair-status", markup=False)

    def on_mount(self) -> None:
        """Open the pairing at once."""
        self._run()

    def _status(self, text: str) -> None:
        self.query_one("#pair-status", Static).update(text)

    def _show(self, link: PairingLink) -> None:
        self.link = link
        self.query_one("#pair-qr", Static).update(qr_text(link.url))
        self.query_one("#pair-link", Static).update(link.url)
        self._status("Scan the code with the phone, or run `hitl-desk pair LINK` on the other machine. "
                     "The link works once, for 5 minutes. Waiting for the device…")

    async def _decide(self, device: JoinedDevice) -> bool:
        self.joined = device
        self._decision = asyncio.get_running_loop().create_future()
        self.query_one("#pair-qr", Static).update("")  # the link is used up: make room for the code
        self._status(f"Device {visible_line(device.name)!r} (key {device.key_fingerprint}) joined.\n\n"
                     f"Verification code: {spaced(device.code)}\n\n"
                     "Does the device show the same code?  y: yes, pair it · n: no, stop")
        return await self._decision

    @work(group="pairing", exclusive=True, exit_on_error=False)
    async def _run(self) -> None:
        try:
            self.paired = await self.desk.link.pair(self._show, self._decide)
        except HitlError as exc:
            self.failed = exc
            hint = ("\n\nThe relay's LAN listener is off: turn it on in the paired devices dialog (v, then l)."
                    if self.link is None and isinstance(exc, PairingFailedError) else "")
            self._status(f"Pairing stopped: {visible_line(exc.message)}{hint}\n\nEsc closes.")
            return
        self.notify(f"Paired {visible_line(self.paired.name)!r} as {self.paired.device_id}.", markup=False)
        self.dismiss(self.paired)

    def action_decide(self, same: bool) -> None:
        """The human compared the codes."""
        if self._decision is not None and not self._decision.done():
            self._decision.set_result(same)
            self._status("Delivering the desk key sealed to the device…" if same else "Stopping the pairing…")

    def action_close(self) -> None:
        """Close; a pairing still running is cancelled on the relay (the device hears so)."""
        self.workers.cancel_group(self, "pairing")
        self.dismiss(self.paired)
