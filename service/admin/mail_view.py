"""An email's HTML part as a mail client shows it, inside a staff page: the same paragraphs and
links, with what the page's CSP forbids (inline styles) or what would act (the open-tracking
image) left out. Only the tags our own template uses pass; every text is escaped again."""

from __future__ import annotations

import html
from html.parser import HTMLParser

_KEPT = {"p", "a", "hr", "br", "div", "strong", "em", "ul", "ol", "li"}
_EMPTY = {"hr", "br"}


class _Shown(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.out.append("<p class=\"muted\">[An unseen one-pixel image: counts opens]</p>")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            safe = href.startswith(("https://", "http://"))
            self.out.append(f"<a href=\"{html.escape(href, quote=True)}\">" if safe else "<a>")
        elif tag in _KEPT:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _KEPT and tag not in _EMPTY:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data))


def as_shown(document: str) -> str:
    shown = _Shown()
    shown.feed(document)
    shown.close()
    return "".join(shown.out)
