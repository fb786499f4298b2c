"""Dates, times, phone numbers, identifiers, e-mail addresses and titled names, in one pass.

All patterns are alternatives of a single compiled expression run once over the folded subject
(digits intact). Deliberately allowed: a year alone ("Your 2026 statement"; HIPAA's Safe Harbor
treats a year as non-identifying), a month alone ("Our March newsletter") and a weekday alone
("Community health fair this Saturday"): none places a person at an event.
"""

from __future__ import annotations

import re

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_TIME = r"\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?![a-z])|\b\d{1,2}:\d{2}\b|\bnoon\b"

_PATTERNS = {
    "contact_email": r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}",
    "identifier_ssn": r"\b\d{3}[- ]\d{2}[- ]\d{4}\b",
    "contact_phone": r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\b\d{3})[\s.-]?\d{3}[\s.-]\d{4}\b"
                     r"|\b\d{3}[.-]\d{4}\b",
    "date_numeric": r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b",
    "date_named": rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
                  rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b",
    "date_weekday_time": rf"\b{_WEEKDAY}\b[^a-z0-9]*(?:at\s+)?(?:{_TIME})",
    "date_time": _TIME,
    "identifier_labelled": r"\b(?:mrn|med(?:ical)?\s*rec(?:ord)?|patient\s*(?:id|no|number|#)"
                           r"|acct|account\s*(?:no|number|#)?|claim(?:\s*(?:no|number|#|id))?"
                           r"|member\s*(?:id|no|number|#)|case\s*(?:no|number|#)|ref(?:erence)?"
                           r"\s*(?:no|number|#)|id|dob|ssn|invoice\s*(?:no|number|#)?)"
                           r"\s*[:#.]?\s*[a-z]{0,3}[-\s]?\d[\w-]*",
    "identifier_hash": r"#\s*\d+",
    "identifier_digits": r"(?:\d[\s-]?){6,}\d|\b[a-z]{1,3}\d{5,}\b",
    "name_titled": r"\b(?:dr|doctor|nurse|np|pa|prof|professor|mr|mrs|ms|mx)\b\.?\s+[a-z][a-z'-]+",
}

_COMBINED = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _PATTERNS.items()))
# Every pattern but these needs a digit, "@" or "#": most subjects have none, and skip the rest.
_WORDS_ONLY = re.compile(
    "|".join(f"(?P<{name}>{_PATTERNS[name]})" for name in ("name_titled",))
    + r"|(?P<date_noon>\bnoon\b)"
)
_NEEDS_FULL_SCAN = re.compile(r"[0-9@#]")


def detect(folded: str) -> str | None:
    """The category of the first identifying pattern in the folded subject, if any."""
    pattern = _COMBINED if _NEEDS_FULL_SCAN.search(folded) else _WORDS_ONLY
    for match in pattern.finditer(folded):
        kind = match.lastgroup or ""
        if kind == "identifier_digits" and _is_year(match.group()):
            continue
        return kind.split("_", 1)[0]
    return None


def _is_year(text: str) -> bool:
    return len(text) == 4 and text.isdigit() and 1900 <= int(text) <= 2100
