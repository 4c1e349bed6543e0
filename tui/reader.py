"""How the TUI words agent text: escaped, never markup, Markdown only where it is rendered.

Every screen shows requests through ``DeskLink.reader`` (a ``hitl_desk.reading.RequestReader``)
and words what it read with these functions.  Agent text (prompts, choices, placeholders, agent
names) goes through ``hitl_desk.display`` first, so no control or bidi character reaches the
terminal, and then into a widget as content: a rich ``Text`` for table cells, a Textual
``Content`` for labels and buttons, ``markup=False`` for toasts, or Markdown the widget renders
(with names escaped so they cannot add Markdown of their own).
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.text import Text
from textual.markup import escape

from hitl_desk.display import visible, visible_line
from hitl_desk.reading import LOCK, UNVERIFIED, Readable

_MD = MarkdownIt("commonmark")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
"""Markdown decodes ``&#x1b;`` and ``&rlm;`` into the very characters ``visible`` escaped: an
entity is shown as sent instead."""
_PLAIN_CACHE = 4096
"""Distinct prompts whose plain line is kept: the queue redraws its visible rows every second."""
PLAIN_HEAD = 600
"""Characters of a prompt a one-line view reads: more than any row shows, and a 20,000-character
prompt costs what a short one does (parsing all of it took ~20 ms a row)."""


def label(view: Readable) -> str:
    """How it travelled, for a detail's heading: ``🔒 E2EE`` and what is wrong, or nothing."""
    if not view.sealed:
        return ""
    if not view.readable:
        return f"{LOCK} cannot read"
    return f"{LOCK} E2EE" if view.bound else f"{LOCK} E2EE, {UNVERIFIED}"


def markdown(view: Readable) -> str:
    """The full text as Markdown to render (escaped), or why it cannot be read."""
    if view.readable:
        return md_body(view.request.prompt)
    return f"**{visible_line(view.marker)}**\n\n{md_body(view.detail)}"


def md_body(text: str) -> str:
    """Agent Markdown to render: escaped, with its lines and its formatting, entities inert."""
    return _ENTITY.sub("&amp;", visible(text))


def md_literal(text: str) -> str:
    """Agent text on one line, to put inside Markdown without adding any Markdown of its own."""
    return _MD_SPECIAL.sub(r"\\\1", visible_line(text))


def markup_literal(text: str) -> str:
    """Agent text on one line, for the few Textual APIs that take only markup (palette entries)."""
    return escape(visible_line(text))


def plain(text: str) -> str:
    """A Markdown prompt as one readable line: the words without ``**``, backticks or links.

    Only the first ``PLAIN_HEAD`` characters are read (call it with the whole prompt).
    """
    return _plain(text[:PLAIN_HEAD])


@lru_cache(maxsize=_PLAIN_CACHE)
def _plain(text: str) -> str:
    words: list[str] = []
    for token in _MD.parse(md_body(text)):
        if token.type == "inline":
            words.extend(_inline_words(token.children or []))
        elif token.type in ("fence", "code_block"):
            words.append(token.content)
    return visible_line(" ".join(" ".join(words).split()))


def _inline_words(children: list[Token]) -> list[str]:
    words: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            words.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            words.append(" ")
        elif child.type == "image":
            words.extend(_inline_words(child.children or []))
    return ["".join(words)]


def line(view: Readable) -> str:
    """The marker and the prompt as one plain, escaped line (rows, toasts, notes)."""
    return visible_line(view.marker) + plain(view.request.prompt)


def cell(text: str) -> Text:
    """Agent text as a table cell: one escaped line, never parsed as markup."""
    return Text(visible_line(text), no_wrap=True, end="")
