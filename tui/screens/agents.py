"""Agents: who asks through this desk, when they were last seen, and how many keys they hold."""

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
from hitl_desk.models import Agent
from tui.clock import format_moment
from tui.reader import cell, markup_literal
from tui.screens.base import DirectoryScreen
from tui.screens.modals import AskModal
from tui.screens.rules import RulesScreen


class AgentsScreen(DirectoryScreen):
    """Registered agents; create one, or mint a key for the selected one."""

    SECTION = "agents"
    WHAT = "agents"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "create_agent", "New agent"),
        Binding("enter", "create_key", "New key for agent", priority=True),
        Binding("r", "reload", "Reload"),
        Binding("p", "rules", "Always-allow rules", show=False),
    ]

    def compose(self) -> ComposeResult:
        """Top bar, the agents table, a hint, footer."""
        yield from self.compose_bars()
        table: DataTable[Text] = DataTable(id="agents-table", cursor_type="row", zebra_stripes=True)
        table.add_column("Name", key="name", width=20)
        table.add_column("Id", key="id", width=22)
        table.add_column("Keys", key="keys", width=5)
        table.add_column("Created", key="created", width=13)
        table.add_column("Last seen", key="seen")
        yield table
        yield Static("Agents register themselves on first contact. A key lets one in:"
                     " press Enter on an agent, or run hitl-desk keys create --agent NAME.",
                     classes="hint", id="agents-hint")

    def fill(self) -> None:
        """Rebuild the table (agents are few)."""
        table: DataTable[Text] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        now = self.desk.clock()
        for agent in self.state.agents:
            active = sum(1 for k in self.state.keys if k.agent_id == agent.id and k.revoked_at is None)
            table.add_row(cell(agent.name), cell(agent.id), Text(str(active)),
                          Text(format_moment(agent.created_at, now)),
                          Text(format_moment(agent.last_seen_at, now) if agent.last_seen_at else "never"),
                          key=agent.id)
        if self.state.agents:
            table.move_cursor(row=min(row, len(self.state.agents) - 1), animate=False)

    @property
    def selected(self) -> Agent | None:
        """The agent under the cursor."""
        row = self.query_one(DataTable).cursor_row
        return self.state.agents[row] if 0 <= row < len(self.state.agents) else None

    def action_create_agent(self) -> None:
        """Ask for a name and register the agent."""
        def asked(answer: tuple[str, str] | None) -> None:
            if answer:
                self._create_agent(answer[0])

        self.app.push_screen(AskModal("New agent", "Name"), asked)

    @work(group="commands")
    async def _create_agent(self, name: str) -> None:
        try:
            await self.link.create_agent(name)
        except HitlError as exc:
            self.report(exc, "Creating the agent")
        else:
            self.notify(f"Agent {visible_line(name)!r} registered. Press Enter on it to make its key.",
                        markup=False)

    def action_create_key(self) -> None:
        """Mint an API key for the selected agent."""
        agent = self.selected
        if agent is None:
            self.action_create_agent()
            return

        def asked(answer: tuple[str, str] | None) -> None:
            if answer:
                self._create_key(answer[0], answer[1] or None)

        self.app.push_screen(AskModal("New API key", "Agent", agent.name, second="Label"), asked)

    @work(group="commands")
    async def _create_key(self, agent_name: str, label: str | None) -> None:
        try:
            await self.link.create_key(agent_name, label)
        except HitlError as exc:
            self.report(exc, "Creating the key")

    def action_rules(self) -> None:
        """Show the always-allow rules (revoke them there)."""
        self.app.push_screen(RulesScreen())

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Agent actions."""
        yield SystemCommand("Create agent", "Register an agent by name", self.action_create_agent)
        yield SystemCommand("Always-allow rules", "Tool calls answered without asking; revoke them (p)",
                            self.action_rules)
        agent = self.selected
        if agent is not None:
            yield SystemCommand(f"Create API key for {markup_literal(agent.name)}", "Mint a key (shown once)",
                                self.action_create_key)
        yield SystemCommand("Reload agents", "Fetch agents and keys from the relay", self.action_reload)
