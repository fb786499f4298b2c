"""Server-drawn SVG charts: no script, no external asset, readable at any width.

The charts are laid out in percentages of their width and never scaled: a bar is a share of the
width the page gives it, and the text keeps the size the stylesheet sets (14px), on a phone as
on a desktop. Every bar has its words (a label and its figure) beside it, so nothing is told by
colour alone, and a table on the page carries the same figures.

Values arrive already suppressed: a withheld figure is None and is written, never drawn, so a
chart cannot reveal what the table hides.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

_BAR_ROW = 46
_STRIP = 56
_STRIP_ROW = _STRIP + 30


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its words (the figure written in) and its length, 0 to 1 of the width; None
    when the figure is withheld or not a number, so only the words show."""

    words: str
    share: float | None


def bars(title: str, rows: Sequence[Bar]) -> str:
    """Horizontal bars, each under its own line of words, on a track that shows the whole."""
    lines: list[str] = []
    for position, row in enumerate(rows):
        top = position * _BAR_ROW
        lines.append(f'<text x="0" y="{top + 16}">{html.escape(row.words)}</text>')
        if row.share is not None:
            lines.append(f'<rect class="track" x="0" y="{top + 23}" width="100%" height="14"/>')
            share = max(0.005, min(row.share, 1.0))
            lines.append(f'<rect class="bar" x="0" y="{top + 23}" width="{share * 100:.2f}%" '
                         'height="14"/>')
    return _svg(title, max(len(rows), 1) * _BAR_ROW, lines)


@dataclass(frozen=True, slots=True)
class Strip:
    """A series over time: its name, and one count a period, oldest first."""

    name: str
    counts: Sequence[int]


def strips(title: str, series: Sequence[Strip], first: str, last: str) -> str:
    """Small multiples: each series its own row of columns on its own scale, named with its
    total and its largest column in words; ``first`` and ``last`` label the time axis."""
    lines: list[str] = []
    for position, strip in enumerate(series):
        top = position * _STRIP_ROW
        peak = max(strip.counts, default=0)
        words = f"{sum(strip.counts)} in all, at most {peak} in one hour" if peak else "none"
        lines.append(f'<text x="0" y="{top + 16}"><tspan class="name">'
                     f'{html.escape(strip.name)}</tspan>: {words}</text>')
        base = top + 24 + _STRIP
        lines.append(f'<rect class="axis-line" x="0" y="{base}" width="100%" height="1"/>')
        each = 100 / max(len(strip.counts), 1)
        for index, count in enumerate(strip.counts):
            if count:
                height = max(2.0, count / peak * _STRIP)
                lines.append(
                    f'<rect class="bar" x="{index * each + each * 0.1:.3f}%" '
                    f'y="{base - height:.1f}" width="{each * 0.8:.3f}%" height="{height:.1f}"/>'
                )
    bottom = len(series) * _STRIP_ROW + 4
    lines.append(f'<text class="axis" x="0" y="{bottom}">{html.escape(first)}</text>')
    lines.append(f'<text class="axis" x="100%" y="{bottom}" text-anchor="end">'
                 f'{html.escape(last)}</text>')
    return _svg(title, bottom + 6, lines)


def _svg(title: str, height: float, lines: list[str]) -> str:
    # No viewBox: nothing is scaled, so text is drawn at the stylesheet's size at any width.
    return (
        f'<svg class="chart" width="100%" height="{height:.0f}" role="img" '
        f'aria-label="{html.escape(title, quote=True)}">'
        f"<title>{html.escape(title)}</title>{''.join(lines)}</svg>"
    )
