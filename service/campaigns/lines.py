"""A streamed body split into lines in one pass, each line capped while it is read.

Every byte is split out of its chunk once and copied a fixed number of times, so the work is
linear in the body however its chunks fall (appending each chunk to what is left over and
splitting it all again is quadratic when lines are long); between chunks only the unfinished
line is held, never more than the cap. A line that cannot fit is refused as soon as the bytes
read show it, with or without a newline to come.
"""

from __future__ import annotations

from collections.abc import Iterator

# Chunks are split this much at a time: a huge chunk is never turned into one list of all its
# lines, and a line without end is refused after this much of it, not after the whole chunk.
_WINDOW = 64 * 1024


class LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line} is too long")
        self.line = line


class LineSplitter:
    """Feed it the body's chunks in order, then call ``end``. Lines come out without their LF or
    CRLF, decoded as UTF-8 (a byte-order mark at the start dropped, undecodable bytes replaced),
    and may hold at most ``max_bytes`` bytes; line numbers count from 1."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.lines = 0
        self._pieces: list[bytes] = []
        self._held = 0

    def feed(self, chunk: bytes) -> Iterator[str]:
        for start in range(0, len(chunk), _WINDOW):
            *complete, rest = chunk[start:start + _WINDOW].split(b"\n")
            if complete and self._pieces:
                complete[0] = b"".join((*self._pieces, complete[0]))
                self._pieces.clear()
                self._held = 0
            for raw in complete:
                yield self._line(raw)
            if rest:
                # A CR may still come before the LF; past that, no newline can save the line.
                self._held += len(rest)
                if self._held > self.max_bytes + 1:
                    raise LineTooLong(self.lines + 1)
                self._pieces.append(rest)

    def end(self) -> str | None:
        """The last line, when the body does not end with a newline."""
        if not self._pieces:
            return None
        raw = b"".join(self._pieces)
        self._pieces.clear()
        self._held = 0
        return self._line(raw)

    def _line(self, raw: bytes) -> str:
        self.lines += 1
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > self.max_bytes:
            raise LineTooLong(self.lines)
        return raw.decode("utf-8" if self.lines > 1 else "utf-8-sig", "replace")
