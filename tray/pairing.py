"""The tray's "Pair a device…": the QR code as a PNG, the link and the code in notifications.

The flow is ``hitl_desk.pair_desk.pair_on_desk``, the one ``hitl-desk pair`` and the TUI run.
The tray has no window of its own, so the QR code is written (0600: the link carries the
pairing's secret) into the home as ``pairing-qr.png`` for an image viewer, the link goes into a
notification, and the device's verification code comes in a notification with "Same code" and
"Different" buttons.  The PNG is removed when the pairing ends, whichever way.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

from hitl_desk.client import RelayClient
from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError
from hitl_desk.pair_desk import JoinedDevice, PairedDevice, pair_on_desk, spaced
from hitl_desk.pairing import PairingLink
from hitl_desk.settings import Settings
from tray.notifier import RequestNotifier

log = logging.getLogger(__name__)
QR_FILE = "pairing-qr.png"
SAME, DIFFERENT = "Same code", "Different"


def qr_png(text: str) -> bytes:
    """``text`` as a QR code PNG (segno), big enough to scan from a screen."""
    import segno  # only pairing draws QR codes

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only (the QR code carries the pairing's secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left from before keeps its mode otherwise
    with os.fdopen(fd, "wb") as out:
        out.write(data)


async def pair_from_tray(client: RelayClient, settings: Settings, notifier: RequestNotifier) -> PairedDevice | None:
    """Run a pairing from the tray menu; None (told in a notification) when it stopped."""
    png: Path = settings.home / QR_FILE

    async def show(link: PairingLink) -> None:
        _write_private(png, qr_png(link.url))
        await notifier.message("Pair a device", f"Scan the QR code in {png} with the phone, or run on the "
                               f"other machine:\nhitl-desk pair '{link.url}'\nThe link works once, for 5 minutes.")

    async def decide(device: JoinedDevice) -> bool:
        return await notifier.confirm(
            "Pairing: compare the codes",
            f"Device {visible_line(device.name)!r} (key {device.key_fingerprint}) joined.\n"
            f"Verification code: {spaced(device.code)}\nDoes the device show the same code?", SAME, DIFFERENT)

    try:
        paired = await pair_on_desk(client, settings, show, decide)
    except HitlError as exc:
        log.info("pairing stopped: %s", exc.message)
        await notifier.message("Pairing stopped", exc.message)
        return None
    finally:
        png.unlink(missing_ok=True)
    await notifier.message("Paired", f"Paired {visible_line(paired.name)!r} as {paired.device_id}: it received "
                           "the desk key sealed to its own key.")
    return paired
