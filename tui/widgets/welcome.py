"""What the queue shows when it is empty: how to connect an agent (the first-run guide)."""

from __future__ import annotations

from textual.widgets import Markdown

FIRST_RUN = """\
## Welcome to hitl-desk

Agents ask you questions through the relay at `{url}`; they show up here.

**Connect an agent** (from another terminal):

1. Make it a key: `hitl-desk keys create --agent NAME` — or press **k** then **c** here.
2. Give it the MCP server: `hitl-desk mcp-config claude-code` prints the config to add.
3. Try it now: `hitl-desk request --prompt "Ship it?" --choice Yes --choice No`

Keys: **q n h a k** switch sections · **Ctrl+P** every command · **Ctrl+Q** quit.
"""

IDLE = """\
## Nothing is waiting for you

New questions appear here with a bell. Connect another agent with
`hitl-desk keys create --agent NAME` and `hitl-desk mcp-config claude-code`,
or send a test: `hitl-desk request --prompt "Ship it?" --choice Yes --choice No`
"""


class Welcome(Markdown):
    """The empty queue's guide; longer on the first run (no API key made yet)."""

    DEFAULT_CSS = """
    Welcome { height: auto; margin: 1 2; }
    """

    def __init__(self, url: str, first_run: bool) -> None:
        super().__init__(self.text_for(url, first_run))
        self.url = url
        self.first_run = first_run

    @staticmethod
    def text_for(url: str, first_run: bool) -> str:
        """The guide's Markdown."""
        return (FIRST_RUN if first_run else IDLE).format(url=url or "its configured address")

    def show_first_run(self, first_run: bool) -> None:
        """Switch between the first-run and the idle text."""
        if first_run != self.first_run:
            self.first_run = first_run
            self.update(self.text_for(self.url, first_run))
