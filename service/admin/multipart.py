"""A staff page's file upload (``multipart/form-data``) read as a stream: the file's bytes go on
as they arrive and are never written to disk or held whole (an audience file holds patients'
addresses). The small fields before the file are read first and checked (``check``: the CSRF
token) before a single byte of the file is passed on, so a forged form stages nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from service.core.bodies import stream_capped
from service.core.problems import Problem

# The fields besides the file are a token or two: anything bigger is not this form.
_FIELD_MAX = 1024
_FIELDS_MAX = 8
# The body besides the file's bytes: the fields and each part's headers.
_OVERHEAD = 16 * 1024
# Media types a browser gives a .csv or .txt file, depending on the system.
_TEXT_TYPES = {"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel",
               "application/octet-stream", "text/comma-separated-values"}


def unreadable(detail: str) -> Problem:
    return Problem(400, "bad-request", "The upload could not be read", detail)


def not_csv(detail: str) -> Problem:
    return Problem(415, "not-csv", "This file is not a CSV file", detail)


# Compared by identity: two file parts with the same headers are still two files.
@dataclass(eq=False)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


@dataclass
class _Events:
    """What the push parser's callbacks saw in the last chunk, in order."""

    header: bytearray = field(default_factory=bytearray)
    value: bytearray = field(default_factory=bytearray)
    parts: list[_Part] = field(default_factory=list)
    data: list[tuple[_Part, bytes]] = field(default_factory=list)
    ended: bool = False

    def header_end(self) -> None:
        self.parts[-1].headers[bytes(self.header).lower()] = bytes(self.value)
        self.header.clear()
        self.value.clear()

    def headers_done(self) -> None:
        part = self.parts[-1]
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        part.filename = None if filename is None else filename.decode("utf-8", "replace")


def _parser(request: Request, events: _Events) -> MultipartParser:
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise Problem(415, "unsupported-media-type", "Send the file as multipart/form-data")
    return MultipartParser(boundary, {
        "on_part_begin": lambda: events.parts.append(_Part()),
        "on_header_field": lambda d, s, e: events.header.extend(d[s:e]),
        "on_header_value": lambda d, s, e: events.value.extend(d[s:e]),
        "on_header_end": events.header_end,
        "on_headers_finished": events.headers_done,
        "on_part_data": lambda d, s, e: events.data.append((events.parts[-1], d[s:e])),
        "on_end": lambda: setattr(events, "ended", True),
    })


async def file_chunks(request: Request, limit: int, file_field: str,
                      check: Callable[[dict[str, str]], None]) -> AsyncIterator[bytes]:
    """The bytes of the form's one file ``file_field``, at most ``limit`` of them, once
    ``check`` accepted the fields sent before it. Raises a ``Problem`` for a body that is not
    such a form, and ``not_csv`` for a file that is not text."""
    events = _Events()
    parser = _parser(request, events)
    fields: dict[str, str] = {}
    sent = 0
    file_part: _Part | None = None
    async for chunk in stream_capped(request, limit + _OVERHEAD):
        try:
            parser.write(chunk)
        except MultipartParseError:
            raise unreadable("The form's body is malformed") from None
        for part, data in events.data:
            if part.filename is None:
                part.value.extend(data)
                if len(part.value) > _FIELD_MAX:
                    raise unreadable(f"The field `{part.name}` is too long")
                continue
            if part.name != file_field or file_part not in (None, part):
                raise unreadable(f"Send one file, as `{file_field}`")
            if file_part is None:
                file_part = part
                fields = _fields(events.parts)
                check(fields)
                content_type = part.headers.get(b"content-type", b"").split(b";")[0].strip()
                if content_type.decode("latin-1").lower() not in _TEXT_TYPES:
                    raise not_csv("Save the list as CSV (comma-separated values) and upload it")
            if b"\x00" in data:
                raise not_csv("The file holds binary data, not text")
            sent += len(data)
            if sent > limit:
                raise Problem(413, "audience-too-large", "The file is too large",
                              f"A file may have at most {limit} bytes")
            yield bytes(data)
        events.data.clear()
    if not events.ended:
        raise unreadable("The upload ended early")
    if not sent:
        check(_fields(events.parts))
        raise Problem(422, "no-file", "Choose a file", "Choose the CSV file to upload")


def _fields(parts: list[_Part]) -> dict[str, str]:
    fields = [p for p in parts if p.filename is None]
    if len(fields) > _FIELDS_MAX:
        raise unreadable("The form has too many fields")
    return {p.name: p.value.decode("utf-8", "replace") for p in fields}
