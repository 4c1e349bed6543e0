"""Always-allow rules: what the relay answers "Allow once" without asking; revoke one at once."""

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
from hitl_desk.rules import Rule
from tui.clock import format_moment
from tui.reader import cell
from tui.screens.base import DeskScreen
from tui.screens.modals import ConfirmModal


class RulesScreen(DeskScreen):
    """Every live always-allow rule: agent, tool, kind and pattern; revoke the selected one."""

    SECTION = "agents"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d,delete", "revoke_rule", "Revoke"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[Rule] = []

    def compose(self) -> ComposeResult:
        """Top bar, the rules table, a hint, footer."""
        yield from self.compose_bars()
        table: DataTable[Text] = DataTable(id="rules-table", cursor_type="row", zebra_stripes=True)
        table.add_column("Agent", key="agent", width=14)
        table.add_column("Tool", key="tool", width=10)
        table.add_column("Kind", key="kind", width=6)
        table.add_column("Pattern", key="pattern", width=30)
        table.add_column("Made", key="made")
        yield table
        yield Static("A call a rule matches is answered 'Allow once' at once, and still recorded. "
                     "'Always allow' on an approval adds an exact rule; hitl-desk rules add makes "
                     "prefix and path rules.", classes="hint", id="rules-hint")

    def on_mount(self) -> None:
        """Show the table, then fetch the rules."""
        self.fill()
        self.query_one(DataTable).focus()
        if self.link.client is not None:
            self.action_reload()

    @work(group="rules", exclusive=True)
    async def action_reload(self) -> None:
        """Fetch the rules from the relay."""
        try:
            self.rules = await self.link.load_rules()
        except HitlError as exc:
            self.report(exc, "Loading rules")
            return
        self.fill()

    def fill(self) -> None:
        """Rebuild the table (rules are few)."""
        table: DataTable[Text] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        now = self.desk.clock()
        for rule in self.rules:
            table.add_row(cell(rule.agent_name), cell(rule.tool), Text(rule.kind), cell(rule.pattern),
                          Text(f"{format_moment(rule.created_at, now)} by ") + cell(rule.created_by), key=rule.id)
        if self.rules:
            table.move_cursor(row=min(row, len(self.rules) - 1), animate=False)

    @property
    def selected(self) -> Rule | None:
        """The rule under the cursor."""
        row = self.query_one(DataTable).cursor_row
        return self.rules[row] if 0 <= row < len(self.rules) else None

    def action_revoke_rule(self) -> None:
        """Revoke the selected rule, after asking."""
        rule = self.selected
        if rule is None:
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self._revoke(rule.id)

        self.app.push_screen(ConfirmModal(
            f"Revoke the rule letting {visible_line(rule.agent_name)} run {visible_line(rule.tool)} "
            f"({rule.kind} {visible_line(rule.pattern[:80])})? Its calls are asked about again at once.",
            yes="Revoke"), decided)

    @work(group="commands")
    async def _revoke(self, rule_id: str) -> None:
        try:
            await self.link.revoke_rule(rule_id)
        except HitlError as exc:
            self.report(exc, "Revoking")
            return
        self.notify(f"Rule {rule_id} revoked.")
        self.action_reload()

    def action_back(self) -> None:
        """Back to the agents."""
        self.app.pop_screen()

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Rule actions."""
        rule = self.selected
        if rule is not None:
            yield SystemCommand(f"Revoke rule {rule.id}", "Ask about its calls again", self.action_revoke_rule)
        yield SystemCommand("Reload rules", "Fetch the rules from the relay", self.action_reload)
