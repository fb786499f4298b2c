"""An email's body as a list of paragraphs, written once and shown as both of its parts, so the
plain-text part always says what the HTML part says.

A link is words and the URL it opens. HTML shows the words only; plain text cannot hide a URL
behind words, so it shows the words and then that URL itself. Nowhere does a link show an address
other than the one it opens: mail filters score that as phishing, and patients are taught to.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Link:
    words: str
    url: str


# A line of text, a link, or a line with a link in it (``("Website: ", Link(url, url))``).
Piece = str | Link
Paragraph = Piece | tuple[Piece, ...]


def _pieces(paragraph: Paragraph) -> tuple[Piece, ...]:
    return paragraph if isinstance(paragraph, tuple) else (paragraph,)


def _text(piece: Piece) -> str:
    if isinstance(piece, str):
        return piece
    return piece.url if piece.words == piece.url else f"{piece.words}:\n{piece.url}"


def _html(piece: Piece) -> str:
    if isinstance(piece, str):
        return html.escape(piece)
    return f'<a href="{html.escape(piece.url, quote=True)}">{html.escape(piece.words)}</a>'


def as_text(paragraphs: Sequence[Paragraph], separator: str = "\n\n") -> str:
    return separator.join("".join(map(_text, _pieces(p))) for p in paragraphs)


def as_html(paragraphs: Sequence[Paragraph]) -> str:
    return "".join(f"<p>{''.join(map(_html, _pieces(p)))}</p>" for p in paragraphs)
