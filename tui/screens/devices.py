"""Paired devices (keys section, ``v``): name (escaped: a device names itself), key fingerprint,
state and last seen; ``x`` revokes one at once (its requests are refused, its stream closes),
``p`` pairs another, ``l`` turns the relay's LAN listener on or off (devices reach it only there)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from hitl_desk.device import Device
from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError
from hitl_desk.lan import LanStatus
from hitl_desk.pair_desk import PairedDevice
from tui.clock import format_moment
from tui.reader import cell
from tui.screens.modals import ConfirmModal, DeskModal


class DevicesModal(DeskModal[None]):
    """Every paired device, active first; revoke the selected one, or pair a new one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x,d,delete", "revoke", "Revoke"), Binding("p", "pair", "Pair"),
        Binding("l", "switch_lan", "LAN on/off"), Binding("r", "reload", "Reload"),
        Binding("escape,q", "dismiss_none", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[Device] = []
        self.lan: LanStatus | None = None

    def compose(self) -> ComposeResult:
        """The table and a hint."""
        with Vertical(classes="dialog wide") as box:
            box.border_title = "Paired devices"
            yield Static("LAN: …", id="lan-status", markup=False)
            table: DataTable[Text] = DataTable(id="devices-table", cursor_type="row")
            table.add_column("Name", key="name", width=20)
            table.add_column("Key", key="key", width=20)
            table.add_column("State", key="state", width=8)
            table.add_column("Last seen", key="seen")
            yield table
            yield Static("x revoke (at once) · p pair a device · l LAN on/off · r reload · Esc close", classes="hint",
                         markup=False)

    def on_mount(self) -> None:
        """Fetch the list."""
        self.query_one(DataTable).focus()
        self.action_reload()

    @work(group="devices", exclusive=True)
    async def action_reload(self) -> None:
        """Fetch the paired devices."""
        try:
            found = await self.desk.link.list_devices()
            self._show_lan(await self.desk.link.lan_status())
        except HitlError as exc:
            self.notify(f"Loading devices failed: {visible_line(exc.message)}", severity="error", markup=False)
            return
        self.devices = sorted(found, key=lambda d: (d.revoked_at is not None, -d.created_at.timestamp()))
        table: DataTable[Text] = self.query_one(DataTable)
        table.clear()
        now = self.desk.clock()
        for device in self.devices:
            seen = format_moment(device.last_seen_at, now) if device.last_seen_at else "never"
            state = "revoked" if device.revoked_at else "active"
            table.add_row(cell(device.name), Text(device.fingerprint), Text(state), Text(seen), key=device.id)

    def _show_lan(self, lan: LanStatus) -> None:
        self.lan = lan
        if not lan.enabled:
            text = "LAN: off. Devices reach this desk only over the LAN: l turns it on."
        else:
            where = ", ".join(lan.urls) or "no LAN address yet (it starts once an interface has one)"
            text = f"LAN: on at {where}. l turns it off."
        self.query_one("#lan-status", Static).update(text)

    @work(group="lan", exclusive=True)
    async def action_switch_lan(self) -> None:
        """Turn the relay's LAN listener on or off (kept for the relay's next start)."""
        wanted = not (self.lan is not None and self.lan.enabled)
        try:
            self._show_lan(await self.desk.link.switch_lan(wanted))
        except HitlError as exc:
            self.notify(f"Switching the LAN failed: {visible_line(exc.message)}", severity="error", markup=False)

    def action_revoke(self) -> None:
        """Ask, then revoke the selected device."""
        row = self.query_one(DataTable).cursor_row
        if not 0 <= row < len(self.devices) or self.devices[row].revoked_at is not None:
            return
        chosen = self.devices[row]

        def decided(yes: bool | None) -> None:
            if yes:
                self._revoke(chosen.id)

        question = (f"Revoke {visible_line(chosen.name)} (key {chosen.fingerprint})? Its requests are refused and "
                    "its connection closes at once; it must be paired again.")
        self.app.push_screen(ConfirmModal(question, "Revoke"), decided)

    @work(group="devices-revoke")
    async def _revoke(self, device_id: str) -> None:
        try:
            await self.desk.link.revoke_device(device_id)
        except HitlError as exc:
            self.notify(f"Revoking failed: {visible_line(exc.message)}", severity="error", markup=False)
            return
        self.action_reload()

    def action_pair(self) -> None:
        """Pair a device; the list shows it once paired."""
        from tui.screens.pairing import PairingModal

        def done(_: PairedDevice | None) -> None:
            self.action_reload()

        self.app.push_screen(PairingModal(), done)

    def action_dismiss_none(self) -> None:
        """Close."""
        self.dismiss(None)
