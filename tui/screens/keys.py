"""API keys: list by prefix, create (the key is shown once), revoke."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError
from hitl_desk.models import ApiKeyInfo
from tui.clock import format_moment
from tui.reader import cell, markup_literal
from tui.screens.base import DirectoryScreen
from tui.screens.modals import AskModal, ConfirmModal


class KeysScreen(DirectoryScreen):
    """Every API key by prefix: create one, revoke the selected one."""

    SECTION = "keys"
    WHAT = "keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "create_key", "New key"),
        Binding("d,delete", "revoke_key", "Revoke"),
        Binding("r", "reload", "Reload"),
        Binding("o", "oauth_clients", "OAuth clients", show=False),
        Binding("p", "pair", "Pair a device", show=False),
        Binding("v", "devices", "Devices", show=False),
    ]

    def compose(self) -> ComposeResult:
        """Top bar, the keys table, a hint, footer."""
        yield from self.compose_bars()
        table: DataTable[Text] = DataTable(id="keys-table", cursor_type="row", zebra_stripes=True)
        table.add_column("Prefix", key="prefix", width=16)
        table.add_column("Agent", key="agent", width=12)
        table.add_column("Label", key="label", width=8)
        table.add_column("State", key="state", width=7)
        table.add_column("Created", key="created", width=12)
        table.add_column("Last used", key="used")
        yield table
        yield Static("A key is shown once, when it is made. Agents send it as a Bearer token or"
                     " HITL_API_KEY; hitl-desk mcp-config claude-code prints a ready config.",
                     classes="hint", id="keys-hint")

    @property
    def keys(self) -> list[ApiKeyInfo]:
        """Active keys first, newest first within each group."""
        return sorted(self.state.keys, key=lambda k: (k.revoked_at is not None, -k.created_at.timestamp()))

    def fill(self) -> None:
        """Rebuild the table (keys are few)."""
        table: DataTable[Text] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        now = self.desk.clock()
        keys = self.keys
        for key in keys:
            table.add_row(cell(f"{key.prefix}…"), cell(key.agent_name), cell(key.label or ""),
                          Text("revoked" if key.revoked_at else "active"), Text(format_moment(key.created_at, now)),
                          Text(format_moment(key.last_used_at, now) if key.last_used_at else "never"),
                          key=key.prefix)
        if keys:
            table.move_cursor(row=min(row, len(keys) - 1), animate=False)

    @property
    def selected(self) -> ApiKeyInfo | None:
        """The key under the cursor."""
        keys = self.keys
        row = self.query_one(DataTable).cursor_row
        return keys[row] if 0 <= row < len(keys) else None

    def action_create_key(self) -> None:
        """Ask which agent, then mint its key."""
        def asked(answer: tuple[str, str] | None) -> None:
            if answer:
                self._create_key(answer[0], answer[1] or None)

        self.app.push_screen(AskModal("New API key", "Agent", "", second="Label"), asked)

    @work(group="commands")
    async def _create_key(self, agent_name: str, label: str | None) -> None:
        try:
            await self.link.create_key(agent_name, label)
        except HitlError as exc:
            self.report(exc, "Creating the key")

    def action_revoke_key(self) -> None:
        """Revoke the selected key, after asking."""
        key = self.selected
        if key is None or key.revoked_at is not None:
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self._revoke(key.prefix)

        self.app.push_screen(ConfirmModal(f"Revoke {key.prefix}… of {visible_line(key.agent_name)}? Agents using it"
                                          " are refused at once.", yes="Revoke"), decided)

    @work(group="commands")
    async def _revoke(self, prefix: str) -> None:
        try:
            await self.link.revoke_key(prefix)
        except HitlError as exc:
            self.report(exc, "Revoking")
        else:
            self.notify(f"Key {prefix}… revoked.")

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Key actions."""
        yield SystemCommand("Create API key", "Mint a key for an agent (shown once)", self.action_create_key)
        key = self.selected
        if key is not None and key.revoked_at is None:
            yield SystemCommand(f"Revoke key {key.prefix}…", f"Refuse {markup_literal(key.agent_name)} with this key",
                                self.action_revoke_key)
        yield SystemCommand("Reload keys", "Fetch keys from the relay", self.action_reload)
        yield SystemCommand("OAuth clients", "Clients signed in with OAuth; revoke one", self.action_oauth_clients)
        yield SystemCommand("Pair a device", "Show a QR code a phone or another desktop joins with (p)",
                            self.action_pair)
        yield SystemCommand("Paired devices", "Phones and desktops paired with this desk; revoke one (v)",
                            self.action_devices)

    def action_oauth_clients(self) -> None:
        """Show the clients signed in with OAuth."""
        from tui.screens.oauth import OAuthClientsModal

        self.app.push_screen(OAuthClientsModal())

    def action_pair(self) -> None:
        """Pair a phone or another desktop: QR code, verification code, confirm."""
        from tui.screens.pairing import PairingModal

        self.app.push_screen(PairingModal())

    def action_devices(self) -> None:
        """Show the paired devices."""
        from tui.screens.devices import DevicesModal

        self.app.push_screen(DevicesModal())
