"""Server-drawn SVG charts: no script, no external asset, readable at any width.

Values arrive already suppressed: a withheld rate is None and is written as "withheld", never
drawn, so a chart cannot reveal what the table hides.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

_ROW = 22
_LABEL_WIDTH = 180
_BAR_WIDTH = 300


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def rate_bars(
    title: str, rows: Sequence[tuple[str, Sequence[tuple[str, float | None]]]]
) -> str:
    """Horizontal bars, one group a campaign, one bar a series (rates from 0 to 1)."""
    lines: list[str] = []
    y = 0
    for label, series in rows:
        lines.append(
            f'<text class="group" x="0" y="{y + 15}">{html.escape(_shorten(label, 60))}</text>'
        )
        for position, (name, value) in enumerate(series):
            top = y + (position + 1) * _ROW
            shown = "withheld" if value is None else _percent(value)
            lines.append(
                f'<text class="series" x="{_LABEL_WIDTH - 8}" y="{top + 15}" '
                f'text-anchor="end">{html.escape(name)}</text>'
            )
            if value is not None:
                width = max(1.0, value * _BAR_WIDTH)
                lines.append(
                    f'<rect class="bar s{position}" x="{_LABEL_WIDTH}" y="{top + 3}" '
                    f'width="{width:.1f}" height="{_ROW - 6}"><title>{html.escape(label)}: '
                    f'{html.escape(name)} {shown}</title></rect>'
                )
            value_x = _LABEL_WIDTH + (value or 0) * _BAR_WIDTH + 6
            lines.append(
                f'<text class="value" x="{value_x:.1f}" y="{top + 15}">{shown}</text>'
            )
        y += (len(series) + 1) * _ROW + 8
    return _svg(title, _LABEL_WIDTH + _BAR_WIDTH + 80, max(y, _ROW), lines)


def count_columns(
    title: str, days: Sequence[tuple[str, int | str]], series_name: str
) -> str:
    """One column a labelled count (a period); a suppressed count ("<11", "withheld") is
    written, not drawn."""
    width_each = 24
    height = 120
    counts = [value for _, value in days if isinstance(value, int)]
    top = max(counts, default=0) or 1
    lines: list[str] = []
    for position, (day, value) in enumerate(days):
        x = position * width_each
        if isinstance(value, int):
            bar = value / top * (height - 20)
            lines.append(
                f'<rect class="bar s0" x="{x + 2}" y="{height - bar:.1f}" '
                f'width="{width_each - 4}" height="{bar:.1f}"><title>{html.escape(day)}: '
                f'{html.escape(series_name)} {value}</title></rect>'
            )
        else:
            lines.append(
                f'<text class="small" x="{x + width_each / 2}" y="{height - 4}" '
                f'text-anchor="middle"><title>{html.escape(day)}: {html.escape(series_name)} '
                f'{html.escape(value)}</title>·</text>'
            )
    if days:
        lines.append(f'<text class="axis" x="0" y="{height + 14}">{html.escape(days[0][0])}</text>')
        lines.append(
            f'<text class="axis" x="{len(days) * width_each}" y="{height + 14}" '
            f'text-anchor="end">{html.escape(days[-1][0])}</text>'
        )
    return _svg(title, max(len(days) * width_each, 200), height + 20, lines)


def _shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(title: str, width: float, height: float, lines: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{html.escape(title, quote=True)}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{html.escape(title)}</title>{''.join(lines)}</svg>"
    )
