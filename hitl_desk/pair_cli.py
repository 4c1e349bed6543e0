"""``hitl-desk pair`` (on the desk: show a QR code; on a device: ``pair URL``) and ``hitl-desk devices``.

On the desk, ``pair`` opens a pairing with the owner credential, prints the link as a QR code
(segno, on stderr) and as text (stdout), waits for the device, shows the verification code and
asks the human whether the device shows the same one.  On the new device, ``pair URL`` joins,
shows the same code and, once the human confirmed on the desk, keeps the desk key and the
device credential in ``HITL_HOME`` (0600): ``pending``, ``answer`` and ``watch`` then work there.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

from hitl_desk.client import RelayClient
from hitl_desk.crypto import fingerprint
from hitl_desk.device import DeviceList
from hitl_desk.device_client import DeviceCredential
from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError, KeyChangedError
from hitl_desk.handshake import DeviceHandshake
from hitl_desk.keystore import TrustStore, desk_key_path, load_keypair
from hitl_desk.pair_desk import JoinedDevice, pair_on_desk, spaced
from hitl_desk.pairing import PairingLink
from hitl_desk.settings import Settings, write_private


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def show_qr(text: str) -> None:
    """The link as a QR code in the terminal (stderr: stdout carries the link as text)."""
    import segno  # imported here: only the desk's pair command draws one

    segno.make(text, error="m").terminal(out=sys.stderr, compact=True)


async def _ask(question: str) -> bool:
    """Ask the human y/N on the terminal (stdin); anything but yes is no."""
    _say(question)
    line = await asyncio.to_thread(sys.stdin.readline)
    return line.strip().lower() in ("y", "yes")


async def cmd_pair(args: argparse.Namespace) -> int:
    """Pair a device: without URL, start it here (the desk); with URL, join it (the new device)."""
    settings = Settings.from_env()
    if args.link:
        return await _join(settings, args.link, args.name or socket.gethostname())
    return await _start(settings, args)


async def _start(settings: Settings, args: argparse.Namespace) -> int:
    def show(link: PairingLink) -> None:
        show_qr(link.url)
        print(link.url, flush=True)
        _say(f"Scan the code, or run `hitl-desk pair '{link.url}'` on the new device. The link works once, "
             "for 5 minutes. Waiting for the device…")

    async def decide(device: JoinedDevice) -> bool:
        _say(f"Device {visible_line(device.name)!r} (key {device.key_fingerprint}) joined.\n"
             f"Verification code: {spaced(device.code)}")
        return await _ask("Does the device show the same code? [y/N] ")

    async with RelayClient.for_owner(settings, args.url) as client:
        paired = await pair_on_desk(client, settings, show, decide, device_url=args.device_url)
    _say(f"Paired {visible_line(paired.name)!r} as {paired.device_id}; it received the desk key sealed to "
         "its own key. `hitl-desk devices revoke ID` removes it.")
    return 0


async def _join(settings: Settings, text: str, name: str) -> int:
    link = PairingLink.parse(text)
    if DeviceCredential.load(settings) is not None or settings.read_owner_token():
        raise HitlError(f"{settings.home} holds a relay's or a device's credential already: pair from a fresh "
                        "HITL_HOME (or remove device.json to pair this one again).")
    existing = load_keypair(desk_key_path(settings))
    async with RelayClient(link.device_url, None) as client:
        handshake = DeviceHandshake(client, link, name)
        await handshake.join()
        code = await handshake.code()
        _say(f"Verification code: {spaced(code)}\nCheck that the desk shows the same code and confirm there…")
        credential, desk = await handshake.finish()
    if existing is not None and existing.public_key != desk.public_key:
        raise KeyChangedError(f"{desk_key_path(settings)} holds another desk key: pair from a fresh HITL_HOME.")
    write_private(desk_key_path(settings), desk.to_json())
    credential.save(settings)
    TrustStore(settings).trust_desk(desk.public_key)
    _say(f"Paired with the desk at {link.device_url} as {credential.device_id} (desk key "
         f"{fingerprint(desk.public_key)}). Try: hitl-desk pending")
    return 0


async def cmd_devices(args: argparse.Namespace) -> int:
    """``devices list`` and ``devices revoke ID`` (owner)."""
    async with RelayClient.for_owner(Settings.from_env(), args.url) as client:
        if args.devices_command == "revoke":
            from hitl_desk.device import Device

            revoked = await client.call("DELETE", f"/api/v1/devices/{args.device_id}", Device)
            _say(f"revoked {revoked.id} ({visible_line(revoked.name)}); its connections are closed")
            return 0
        listed = await client.call("GET", "/api/v1/devices", DeviceList)
    if not listed.devices:
        _say("no paired devices")
    for device in listed.devices:
        state = "revoked" if device.revoked_at else "active"
        seen = device.last_seen_at.isoformat(timespec="seconds") if device.last_seen_at else "never"
        print(f"{device.id}  {visible_line(device.name):<20} {state:<8} key {device.fingerprint}  last seen {seen}")
    return 0

