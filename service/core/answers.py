"""Verification answers that are dates, read the way patients write them.

A sender gives the answer as YYYY-MM-DD; it is hashed in that form. A patient types what they
are used to: the date input's own YYYY-MM-DD, ``03/14/1980``, ``March 14, 1980``, ``14 March
1980``. Each is read into a date and compared in the sender's form, so a right answer never fails
on its spelling. Numbers alone are read month first, as a US patient writes them. A year must
have four digits: ``3/14/80`` could be 1880, 1980 or 2080. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

# How the answer is compared: case and spaces ignored (``crypto.normalise_answer``), or as a date.
FORMATS = ("text", "date")

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SEP = r"\s*[-/.]\s*"
_YEAR_FIRST = re.compile(rf"([0-9]{{4}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{1,2}})")
_MONTH_FIRST = re.compile(rf"([0-9]{{1,2}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{4}})")
_DAY = r"([0-9]{1,2})(?:st|nd|rd|th)?"
_NAME = r"([a-z]{3,9})\.?"
_NAMED_MONTH_FIRST = re.compile(rf"{_NAME}\s*{_DAY}\s*,?\s*([0-9]{{4}})")
_NAMED_DAY_FIRST = re.compile(rf"{_DAY}\s*(?:of\s+)?{_NAME}\s*,?\s*([0-9]{{4}})")


def iso_date(value: str) -> dt.date | None:
    """A date given exactly as YYYY-MM-DD (the API's form, and what a date input submits), or
    None when it is not one or names no real day."""
    found = _ISO.fullmatch(value)
    return _date(found.group(1), found.group(2), found.group(3)) if found else None


def read_date(typed: str) -> dt.date | None:
    """The date a patient typed, in any of the forms the module names, or None when it is none
    of them or names no real day (``02/30/1980``)."""
    # NFKC: full-width digits and the like, from phone keyboards, become the plain ones.
    text = " ".join(unicodedata.normalize("NFKC", typed).casefold().split())
    if found := _YEAR_FIRST.fullmatch(text):
        return _date(found.group(1), found.group(2), found.group(3))
    if found := _MONTH_FIRST.fullmatch(text):
        return _date(found.group(3), found.group(1), found.group(2))
    if found := _NAMED_MONTH_FIRST.fullmatch(text):
        return _named(found.group(3), found.group(1), found.group(2))
    if found := _NAMED_DAY_FIRST.fullmatch(text):
        return _named(found.group(3), found.group(2), found.group(1))
    return None


def _named(year: str, month_name: str, day: str) -> dt.date | None:
    # A month's name or an abbreviation of at least three letters: "mar", "sept", "june".
    months = [n for n, name in enumerate(_MONTHS, start=1) if name.startswith(month_name)]
    return _date(year, str(months[0]), day) if len(months) == 1 else None


def _date(year: str, month: str, day: str) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
