"""Audience uploads are bounded and linear: a byte cap (413 as soon as it is passed, or at once
on the Content-Length), a line cap applied while the line is read (even with no newline at
all), and a splitter whose work and memory do not grow with how the chunks fall."""

from __future__ import annotations

import dataclasses
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterable

import httpx
import pytest
from starlette.applications import Starlette

from service.campaigns.audience import MAX_LINE_BYTES
from service.campaigns.lines import LineSplitter, LineTooLong
from tests.campaign_setup import create, upload
from tests.helpers import auth

CHUNK = 64 * 1024  # what an ASGI server hands the app at a time
MB = 1_000_000


def split(chunks: Iterable[bytes], cap: int = MAX_LINE_BYTES) -> list[str]:
    splitter = LineSplitter(cap)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    if (last := splitter.end()) is not None:
        lines.append(last)
    return lines


BODY = ("\ufeffemail,name\r\nzoë@example.org,Zoë 😀\n\n\r\n"
        "b@example.org,Bo\r\nlast@example.org,Ünal").encode()
EXPECTED = ["email,name", "zoë@example.org,Zoë 😀", "", "", "b@example.org,Bo",
            "last@example.org,Ünal"]


def test_lines_come_out_the_same_wherever_the_chunks_are_cut() -> None:
    """Every cut of the body in two and in three, and one byte at a time: a CRLF and every
    multi-byte character split across chunks, empty lines, a last line without a newline."""
    assert split([BODY]) == EXPECTED
    assert split([BODY[i:i + 1] for i in range(len(BODY))]) == EXPECTED
    for i in range(len(BODY) + 1):
        assert split([BODY[:i], BODY[i:]]) == EXPECTED, i
        for j in range(i, len(BODY) + 1, 7):
            assert split([BODY[:i], BODY[i:j], BODY[j:]]) == EXPECTED, (i, j)


def test_a_chunk_larger_than_the_splitting_window_gives_the_same_lines() -> None:
    """Lines of every length up to the cap, with CRLFs and two-byte characters, in one chunk of
    a few hundred kilobytes and in chunks of 1000 bytes."""
    lines = [("é" * (n % 1000) + "x" * (n % 3)) for n in range(600)]
    body = "\r\n".join(lines).encode()
    assert len(body) > 5 * CHUNK
    assert split([body]) == lines
    assert split(body[i:i + 1000] for i in range(0, len(body), 1000)) == lines


def test_line_ends_and_bad_bytes() -> None:
    assert split([]) == []
    assert split([b"", b"\n", b""]) == [""]
    assert split([b"a\nb\n"]) == ["a", "b"]
    assert split([b"a\r", b"\n", b"b\r"]) == ["a", "b"]
    # Only the first line may start with a byte-order mark; elsewhere it is data.
    assert split([b"\xef\xbb\xbfa\n\xef\xbb\xbfb"]) == ["a", "\ufeffb"]
    assert split([b"caf\xc3", b"\n\xff"]) == ["caf\ufffd", "\ufffd"]


def test_a_line_may_fill_the_cap_and_not_one_byte_more() -> None:
    full = b"x" * 16
    assert split([full + b"\r\n" + full + b"\n" + full], cap=16) == ["x" * 16] * 3
    for body in (full + b"x\n", full + b"x\r\n", b"ok\n" + full + b"x", b"ok\n" + full + b"\r\r\n"):
        for cut in range(len(body) + 1):
            with pytest.raises(LineTooLong) as refused:
                split([body[:cut], body[cut:]], cap=16)
            assert refused.value.line == body.count(b"\n", 0, body.index(b"x")) + 1


def test_a_line_without_end_is_refused_once_it_passes_the_cap_whatever_follows() -> None:
    splitter = LineSplitter(16)
    fed = 0
    with pytest.raises(LineTooLong):
        for _ in range(1000):
            list(splitter.feed(b"y"))
            fed += 1
    assert fed == 17  # 16 bytes and a possible CR
    body = b"z" * (200 * MB)
    started = time.perf_counter()
    with pytest.raises(LineTooLong):
        list(LineSplitter(16).feed(body))
    assert time.perf_counter() - started < 0.05  # the scan stops at the cap


def _splitting_time(chunks: list[bytes], repeats: int) -> float:
    best = float("inf")
    for _ in range(5):
        splitter = LineSplitter(MAX_LINE_BYTES)
        started = time.perf_counter()
        for _ in range(repeats):
            for chunk in chunks:
                for _line in splitter.feed(chunk):
                    pass  # dropped at once, so that keeping them costs nothing
        best = min(best, time.perf_counter() - started)
    return best


def test_splitting_time_grows_with_the_body_not_its_square() -> None:
    """Lines just under the cap, cut by chunk boundaries most of the time. The body repeats one
    megabyte's worth of chunks, so that it stays in the cache whatever its size."""
    line = b"someone@example.org," + b"n" * (MAX_LINE_BYTES - 40) + b"\r\n"
    period = line * (MB // len(line))
    for size in (CHUNK, 1000):
        chunks = [period[i:i + size] for i in range(0, len(period), size)]
        ratio = _splitting_time(chunks, 32) / _splitting_time(chunks, 8)
        assert ratio < 8, (size, ratio)  # 4 when linear, 16 when quadratic


async def _chunks(total: int, chunk: bytes, pulled: list[int]) -> AsyncIterator[bytes]:
    """``total`` bytes of ``chunk`` repeated, counting what the server pulls."""
    sent = 0
    while sent < total:
        piece = chunk[:total - sent]
        pulled[0] += len(piece)
        sent += len(piece)
        yield piece


async def _post(client: httpx.AsyncClient, key: str, campaign: str,
                body: bytes | AsyncIterator[bytes], **headers: str) -> httpx.Response:
    return await client.post(f"/v1/campaigns/{campaign}/audience", content=body,
                             headers={**auth(key), "Content-Type": "text/csv", **headers})


async def _staged(app: Starlette, campaign: str) -> int:
    count: int = await app.state.resources.db.fetchval(
        "SELECT count(*) FROM campaign_audience WHERE campaign_id = $1", uuid.UUID(campaign))
    return count


def _cap_bytes(app: Starlette, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    resources = app.state.resources
    settings = dataclasses.replace(resources.settings, audience_max_bytes=limit)
    monkeypatch.setattr(app.state, "resources", dataclasses.replace(resources, settings=settings))


async def test_fifty_megabytes_without_a_newline_are_refused_at_once_in_little_memory(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    """Streamed as a server hands it over (64 KiB at a time, no Content-Length), and as one
    piece: the line cap stops it after the first chunk, in little time and memory."""
    campaign = await create(client, keys["marketer"])
    whole = b"a" * (50 * MB)
    for body in ("streamed", "whole"):
        pulled = [0]
        tracemalloc.start()
        started = time.perf_counter()
        try:
            response = await _post(
                client, keys["marketer"], campaign,
                _chunks(50 * MB, b"a" * CHUNK, pulled) if body == "streamed" else whole)
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        print(f"50 MB without a newline, {body}: {elapsed:.3f} s, peak {peak / MB:.2f} MB")
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"].endswith("/audience-line-too-long")
        assert problem["line"] == 1
        assert response.headers["content-type"].startswith("application/problem+json")
        assert elapsed < 2
        assert peak < 5 * MB, body
        if body == "streamed":
            assert pulled[0] <= 2 * CHUNK
    assert await _staged(app, campaign) == 0


async def test_a_long_line_is_refused_with_its_number_and_nothing_is_staged(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    campaign = await create(client, keys["marketer"])
    padded = b"long@example.org," + b"p" * MAX_LINE_BYTES
    body = b"email\nfirst@example.org\n" + padded + b"\nafter@example.org\n"
    response = await _post(client, keys["marketer"], campaign, body)
    assert response.status_code == 422
    assert response.json()["line"] == 3
    assert b"long@example.org" not in response.content
    assert await _staged(app, campaign) == 0
    # A line of exactly the cap, CRLF-ended, is taken.
    fits = padded[:MAX_LINE_BYTES] + b"\r\n"
    report = await upload(client, keys["marketer"], campaign, b"first@example.org\r\n" + fits)
    assert (report["rows"], report["accepted"]) == (2, 2)


async def test_a_body_over_the_byte_cap_gets_413_as_soon_as_it_passes_it(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit = 256 * 1024
    _cap_bytes(app, monkeypatch, limit)
    campaign = await create(client, keys["marketer"])
    rows = b"".join(b"r%05d@example.org\n" % n for n in range(CHUNK // 18))

    pulled = [0]
    response = await _post(client, keys["marketer"], campaign, _chunks(4 * MB, rows, pulled))
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["type"].endswith("/payload-too-large")
    assert str(limit) in problem["detail"]
    assert limit < pulled[0] <= limit + len(rows)
    assert await _staged(app, campaign) == 0

    # Declared too large: refused before a byte is read.
    pulled = [0]
    response = await _post(client, keys["marketer"], campaign, _chunks(4 * MB, rows, pulled),
                           **{"Content-Length": str(limit + 1)})
    assert response.status_code == 413
    assert pulled[0] == 0

    # Up to the cap, it is an ordinary upload.
    lines = b"".join(b"e%07d@example.org\n" % n for n in range(limit // 21))
    exact = b"\n" * (limit - len(lines)) + lines
    assert len(exact) == limit
    report = await upload(client, keys["marketer"], campaign, exact)
    assert report["accepted"] == limit // 21


async def test_an_upload_streams_in_bounded_memory_and_linear_time(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    """Long valid lines (so that bytes, not rows, dominate), streamed in server-sized chunks:
    four times the body takes about four times as long, and memory does not follow the size."""
    line = b"%07d@example.org," + b"n" * (MAX_LINE_BYTES - 40) + b"\n"
    timings = {}
    for size in (5 * MB, 20 * MB):
        campaign = await create(client, keys["marketer"])
        rows = size // len(line)
        body = b"".join(line % n for n in range(rows))

        async def chunks(body: bytes = body) -> AsyncIterator[bytes]:
            for i in range(0, len(body), CHUNK):
                yield body[i:i + CHUNK]

        tracemalloc.start()
        started = time.perf_counter()
        try:
            response = await _post(client, keys["marketer"], campaign, chunks())
            timings[size] = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        print(f"{size / MB:.0f} MB in {rows} rows: {timings[size]:.3f} s, peak {peak / MB:.2f} MB")
        assert response.json()["accepted"] == rows
        assert peak < 8 * MB
    assert timings[20 * MB] / timings[5 * MB] < 8
