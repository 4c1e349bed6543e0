"""Agent text made safe to show: the one function every surface calls before drawing it.

Everything an agent sends (prompts, choices, placeholders, agent names, summaries) is hostile
until shown this way.  A terminal obeys ESC/CSI/OSC sequences (clear a line, retitle the window,
write the clipboard with OSC 52, hide text with SGR 8); a notification server or a widget may
obey bidi overrides that reorder what the human reads.  ``visible`` turns each such character
into a printable escape the human can see (``\\x1b``, ``\\u202e``), so what is on screen is
exactly what was sent, and nothing sent can act on the screen.

Markup is a separate concern: ``visible`` returns plain text, and each surface must still show
it as content (Textual ``Content``/``markup=False``, ``html.escape`` for a notification body).
"""

from __future__ import annotations

import json
import re

__all__ = ["visible", "visible_line", "visible_json", "UNSAFE"]

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
"""Arabic letter mark, LRM/RLM, the embeddings and overrides, and the isolates."""

UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
"""Every character ``visible_line`` escapes: C0, DEL, C1, bidi controls, line separators and
lone surrogates (which cannot be encoded for a terminal at all)."""

_UNSAFE_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
"""The same, but newline and tab stay: multi-line text (a Markdown prompt) keeps its lines."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    r"""Return ``text`` with every control character shown as an escape; lines and tabs kept.

    C0 controls (but ``\n`` and ``\t``), DEL, C1 controls, bidi embeddings, overrides, isolates
    and marks, U+2028/U+2029 and lone surrogates become ``\xNN`` / ``\uNNNN``.  A carriage
    return is escaped too: it would let later text overwrite the start of its line.
    """
    return _UNSAFE_BLOCK.sub(_escape, text)


def visible_line(text: str) -> str:
    r"""Return ``text`` as one safe line: as ``visible``, and newlines and tabs escaped too.

    For places that show a single line (a table cell, an agent name, a menu item, a tooltip),
    where a newline could push a fake line under the real one.
    """
    return UNSAFE.sub(_escape, text)


_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
"""What ``json.dumps(ensure_ascii=False)`` leaves raw of ``UNSAFE`` (it escapes C0 itself)."""


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible_json(data: object, *, indent: int | None = None) -> str:
    r"""``data`` as JSON that is safe to print: the characters ``visible_line`` escapes are ``\uNNNN``.

    ``json.dumps(ensure_ascii=False)`` escapes C0 controls but writes DEL, C1 controls, bidi
    controls and lone surrogates raw; here they become JSON escapes (they can only occur inside
    strings), so the output parses to the same data and the rest of Unicode stays readable.
    """
    return _JSON_RAW.sub(_json_escape, json.dumps(data, indent=indent, ensure_ascii=False))
