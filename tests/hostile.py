"""A corpus of hostile agent text, shared by every surface's test.

Each string is something an agent holding only an API key can put in a prompt, a choice, a
placeholder or an agent name.  A surface passes when none of ``FORBIDDEN`` reaches what it draws
(the terminal, a widget, DBus) and the text is still there, escaped, for the human to read.
"""

from __future__ import annotations

import re

HOSTILE: dict[str, str] = {
    "title": "Run tests?\x1b]0;pwned title\x07",
    "erase_line": "WIPE PROD DB\x1b[2K\x1b[1A\rRun tests?",
    "osc52_clipboard": "ok\x1b]52;c;cm0gLXJmIH4K\x07",
    "hidden": "visible \x1b[8mhidden text\x1b[0m",
    "c1_csi": "c1\x9b2Jcleared",
    "st_string": "dcs\x1bP+q\x1b\\",
    "del_bell": "del\x7f bell\x07",
    "bidi_override": "yes\u202e on sey\u202c",
    "bidi_isolate": "a\u2066b\u2069c\u2067d\u2068e",
    "carriage_return": "safe\rWIPE",
    "markup_close": "[/x] closes nothing",
    "markup_style": "[bold red]alarm[/] and [link=https://example.invalid]x[/link]",
    "markup_at": "[@click=app.quit]quit[/]",
    "nul": "nul\x00byte",
    "line_sep": "one\u2028two\u2029three",
}
"""Name → hostile text."""

FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters that must never reach a surface raw (newline and tab may, in multi-line text)."""
