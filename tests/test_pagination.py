"""The one list shape: limits, cursors made by ``page`` read back by ``page_request``, and a clear
422 naming the parameter for anything else."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from starlette.requests import Request

from service.core.pagination import MAX_LIMIT, PageRequest, page, page_request
from service.core.problems import Problem

KEY = (dt.datetime.fromisoformat, uuid.UUID)


def asked(query: str) -> Request:
    return Request({"type": "http", "query_string": query.encode(), "headers": []})


def rows(n: int) -> list[dict[str, Any]]:
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    return [{"at": start - dt.timedelta(minutes=i), "id": uuid.uuid4()} for i in range(n)]


def test_a_full_page_names_the_next_and_its_cursor_reads_back() -> None:
    wanted = page_request(asked("limit=3"), KEY)
    fetched = rows(4)  # limit + 1: there is more
    shown = page(fetched, wanted, lambda r: (r["at"], r["id"]), lambda r: {"id": str(r["id"])})
    assert [item["id"] for item in shown["items"]] == [str(r["id"]) for r in fetched[:3]]
    after = page_request(asked(f"cursor={shown['next_cursor']}&limit=3"), KEY).after
    assert after == (fetched[2]["at"], fetched[2]["id"])


def test_the_last_page_has_no_cursor() -> None:
    shown = page(rows(2), PageRequest(3, None), lambda r: (r["at"], r["id"]), dict)
    assert shown["next_cursor"] is None and len(shown["items"]) == 2


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), (f"limit={MAX_LIMIT + 1}", "limit"), ("limit=-1", "limit"),
    ("limit=1.5", "limit"), ("limit=%D9%A3", "limit"),  # an Arabic-Indic three
    ("cursor=nope", "cursor"), ("cursor=" + "A" * 600, "cursor"),
    ("cursor=WyJ4Il0", "cursor"),  # ["x"]: one part where two are needed
    ("cursor=WyJ4IiwgInkiXQ", "cursor"),  # ["x", "y"]: not a time and a uuid
    ("cursor=%F0%9F%98%80", "cursor"),
])
def test_anything_else_is_a_422_naming_the_parameter(query: str, field: str) -> None:
    with pytest.raises(Problem) as refused:
        page_request(asked(query), KEY)
    assert refused.value.status == 422 and field in str(refused.value.extra)


def test_no_parameters_is_the_first_page_of_the_default_size() -> None:
    assert page_request(asked(""), KEY) == PageRequest(50, None)
