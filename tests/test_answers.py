"""Dates as patients type them, read into the one form a date answer is hashed in."""

from __future__ import annotations

import datetime as dt

import pytest

from service.core.answers import iso_date, read_date

PI_DAY = dt.date(1980, 3, 14)


@pytest.mark.parametrize("typed", [
    "1980-03-14",          # what <input type="date"> submits
    "1980-3-14",
    "1980/03/14",
    "03/14/1980",          # US, month first
    "3/14/1980",
    "03-14-1980",
    "03.14.1980",
    " 3 / 14 / 1980 ",
    "March 14, 1980",
    "march 14 1980",
    "MARCH 14TH, 1980",
    "Mar. 14, 1980",
    "14 March 1980",
    "14th of March, 1980",
    "14 mar 1980",
    "\uff10\uff13/\uff11\uff14/\uff11\uff19\uff18\uff10",  # full-width digits from a phone
])
def test_every_common_spelling_reads_as_the_same_day(typed: str) -> None:
    assert read_date(typed) == PI_DAY


@pytest.mark.parametrize(("typed", "day"), [
    ("02/29/1980", dt.date(1980, 2, 29)),      # a leap day
    ("12/31/1999", dt.date(1999, 12, 31)),
    ("Sept 5, 2001", dt.date(2001, 9, 5)),
    ("June 1 2000", dt.date(2000, 6, 1)),
    ("1 jul 2000", dt.date(2000, 7, 1)),
    ("04/03/1980", dt.date(1980, 4, 3)),       # numbers alone: month first
])
def test_other_days(typed: str, day: dt.date) -> None:
    assert read_date(typed) == day


@pytest.mark.parametrize("typed", [
    "02/30/1980",      # no such day
    "02/29/1981",      # not a leap year
    "13/01/1980",      # no month 13
    "14/03/1980",      # day first, as outside the US: month 14
    "1980-00-10",
    "0000-01-01",
    "3/14/80",         # a two-digit year: which century?
    "Ju 14 1980",      # too short to name a month
    "Jun 14 1980 x",
    "Smarch 14, 1980",
    "",
    "   ",
    "14031980",
    "1980-03-14T00:00",
    "\u0661\u0669\u0668\u0660-03-14",  # Arabic-Indic digits are not read as a year
])
def test_what_names_no_day_is_refused(typed: str) -> None:
    assert read_date(typed) is None


@pytest.mark.parametrize(("value", "day"), [
    ("1980-03-14", PI_DAY),
    ("2024-02-29", dt.date(2024, 2, 29)),
    ("1980-3-14", None),       # the API's form is exactly YYYY-MM-DD
    ("03/14/1980", None),
    ("1980-02-30", None),
    (" 1980-03-14", None),
])
def test_the_api_takes_a_date_only_as_yyyy_mm_dd(value: str, day: dt.date | None) -> None:
    assert iso_date(value) == day
