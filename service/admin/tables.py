"""The staff pages' tables. On a narrow screen each row becomes a block of "header: value"
lines (admin.css), so no column is ever cut off or hidden in a box that scrolls; the header
each cell repeats there is the stylesheet's, hidden from screen readers, which have the table's
own headers."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """``rows``' cells are markup, escaped by the caller; a row's first cell is its header.
    ``empty`` is the one line shown when there is no row."""
    head = "".join(f"<th scope=\"col\">{html.escape(h)}</th>" for h in headers)
    labels = [html.escape(h, quote=True) for h in headers]
    body = "".join(
        f"<tr><th scope=\"row\">{row[0]}</th>"
        + "".join(f"<td data-label=\"{label}\">{cell}</td>"
                  for label, cell in zip(labels[1:], row[1:], strict=True))
        + "</tr>"
        for row in rows
    ) or f"<tr><td colspan=\"{len(headers)}\">{html.escape(empty)}</td></tr>"
    return f"<table class=\"stack\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def number(value: int) -> str:
    return f"{value:,}"


def counts(pairs: Iterable[tuple[str, str]]) -> str:
    """Figures as "name: value" lines; names are words (escaped here), values markup."""
    items = "".join(f"<div><dt>{html.escape(name)}</dt><dd>{value}</dd></div>"
                    for name, value in pairs)
    return f"<dl class=\"counts\">{items}</dl>"
