"""Authorised OAuth clients: who the human let sign in, as which agent; revoke one.

Opened from the keys section (``o``, or the command palette); names are agent text, shown escaped.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from hitl_desk.display import visible_line
from hitl_desk.errors import HitlError
from hitl_desk.oauth_models import AuthorizedClient
from tui.reader import cell
from tui.screens.modals import ConfirmModal, DeskModal


class OAuthClientsModal(DeskModal[None]):
    """The clients signed in with OAuth (one row per consent given); ``x`` revokes the selected one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x,d,delete", "revoke", "Revoke"), Binding("r", "reload", "Reload"),
        Binding("escape,q", "dismiss_none", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.clients: list[AuthorizedClient] = []

    def compose(self) -> ComposeResult:
        """The table and a hint."""
        with Vertical(classes="dialog wide") as box:
            box.border_title = "Signed in with OAuth"
            table: DataTable[Text] = DataTable(id="oauth-table", cursor_type="row")
            table.add_column("Client", key="client", width=22)
            table.add_column("Agent", key="agent", width=16)
            table.add_column("Scopes", key="scopes", width=22)
            table.add_column("Id", key="id")
            yield table
            yield Static("x revoke (its tokens are refused at once) · r reload · Esc close", classes="hint")

    def on_mount(self) -> None:
        """Fetch the list."""
        self.query_one(DataTable).focus()
        self.action_reload()

    @work(group="oauth", exclusive=True)
    async def action_reload(self) -> None:
        """Fetch the authorised clients."""
        try:
            self.clients = await self.desk.link.list_oauth_clients()
        except HitlError as exc:
            self.notify(f"Loading OAuth clients failed: {visible_line(exc.message)}", severity="error", markup=False)
            return
        table: DataTable[Text] = self.query_one(DataTable)
        table.clear()
        for client in self.clients:
            table.add_row(cell(client.client_name or "-"), cell(client.agent_name), Text(" ".join(client.scopes)),
                          Text(client.client_id), key=client.grant_id)

    def action_revoke(self) -> None:
        """Ask, then revoke the selected client."""
        row = self.query_one(DataTable).cursor_row
        if not 0 <= row < len(self.clients):
            return
        chosen = self.clients[row]

        def decided(yes: bool | None) -> None:
            if yes:
                self._revoke(chosen.client_id)

        question = (f"Revoke {visible_line(chosen.client_name or chosen.client_id)} (agent "
                    f"{visible_line(chosen.agent_name)})? Its tokens are refused from now on.")
        self.app.push_screen(ConfirmModal(question, "Revoke"), decided)

    @work(group="oauth-revoke")
    async def _revoke(self, client_id: str) -> None:
        try:
            await self.desk.link.revoke_oauth_client(client_id)
        except HitlError as exc:
            self.notify(f"Revoking failed: {exc.message}", severity="error", markup=False)
            return
        self.action_reload()

    def action_dismiss_none(self) -> None:
        """Close."""
        self.dismiss(None)
