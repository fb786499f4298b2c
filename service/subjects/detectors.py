"""Dates, times, phone numbers, identifiers, e-mail addresses and street addresses, in one pass.

All patterns are alternatives of a single compiled expression run once over the folded subject
(digits intact). Deliberately allowed: a year alone ("Your 2026 statement"; HIPAA's Safe Harbor
treats a year as non-identifying), a month alone ("Our March newsletter") and a weekday alone
("Community health fair this Saturday"): none places a person at an event. Numbers written
in words count as digits where they would identify: "ending in four five two", "the
fourteenth", "half past two".
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from service.subjects.findings import Finding
from service.subjects.normalise import skeleton

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    # Spanish and French, which US clinics also send in.
    r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|sept?iembre|setiembre|octubre"
    r"|noviembre|diciembre|janvier|fevrier|mars|avril|mai|juin|juillet|aout|octobre"
    r"|novembre|decembre"
    # Portuguese, Haitian Creole, Tagalog, Polish (in the genitive a date uses).
    r"|janeiro|fevereiro|marco|maio|junho|julho|setembro|outubro|dezembro|janvye|fevriye|jiye"
    r"|septanm|oktob|novanm|desanm|enero|pebrero|marso|hunyo|hulyo|setyembre|oktubre|nobyembre"
    r"|disyembre|stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|wrzesnia"
    r"|pazdziernika|listopada|grudnia)"
)
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_TIME = r"\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?![a-z])|\b\d{1,2}:\d{2}\b|\bnoon\b"

_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_ORDINAL_WORD = (
    r"(?:(?:twenty|thirty)[\s-]?)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
    r"|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth"
    r"|eighteenth|nineteenth|twentieth|thirtieth"
)
# Street suffixes that end everyday phrases after a number ("5K fun run", "3 easy ways", "2 new
# views"): never read as a street.
_EVERYDAY_SUFFIXES = frozenset(
    "run runs ways view views walk walks center centers club clubs field fields light lights "
    "mall mission pass path paths port rest rock rocks station track trace union loop loops "
    "point points key keys spur crossing cross shoal shoals is fork forks ford fords fall falls "
    "spring springs".split())
# Street suffixes after a house number written in words: only those no phrase ends in.
_PLAIN_SUFFIXES = (r"street|st|avenue|ave|road|rd|boulevard|blvd|drive|dr|lane|ln|highway|hwy"
                   r"|parkway|pkwy|terrace|ter|calle")
_HOUR_WORD = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"


@cache
def _street_words() -> tuple[str, str]:
    """Street suffixes and unit designators (USPS Publication 28), as regex alternatives."""
    text = resources.files("service.subjects").joinpath("data", "street_suffixes.txt")
    sections: dict[str, list[str]] = {}
    current = "suffix"
    for line in text.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif line and not line.startswith("#"):
            sections.setdefault(current, []).extend(
                w for w in line.lower().split() if w not in _EVERYDAY_SUFFIXES)
    def alternatives(words: list[str]) -> str:
        return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return alternatives(sections["suffix"]), alternatives(sections["unit"])


def _patterns() -> dict[str, str]:
    suffixes, units = _street_words()
    digits = r"\d(?:[\d-]|\s(?=\d)){0,8}[a-z]?"  # a house number: bounded, so linear
    words = (r"(?:(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|[a-z]+teen"
             r"|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand)"
             r"(?:[\s-]+|\b)){1,4}")
    side = r"(?:[nsew]\.?\s+|north\s+|south\s+|east\s+|west\s+)?"
    # At least one name word before the suffix: "3 easy ways", "in one place" are no address.
    name = (r"(?:(?!(?:to|for|of|the|a|an|and|in|on|your|our|with|at|by|from|is|are|ways?|this"
            r"|that|next|last|every)\s)"
            r"[a-z][a-z'.]*\s+){1,3}")
    return {
        "contact_email": r"\b[a-z0-9._-]+\s+at\s+[a-z0-9-]+\s+dot\s+(?:com|org|net|edu|gov|us)\b"
                         r"|\b[a-z0-9]+(?:\s+dot\s+[a-z0-9]+)*\s+at\s+(?:gmail|yahoo|hotmail|outlook"
                         r"|aol|icloud)\b"
                         r"|[a-z0-9._-]+\s?@\s?(?:gmail|yahoo|hotmail|outlook|aol|icloud)\b"
                         r"|[a-z0-9._%+-]+\s?(?:@|\[at\]|\(at\))\s?[a-z0-9-]+"
                         r"(?:\s?(?:\.|\[dot\]|\(dot\))\s?[a-z0-9-]+)*"
                         r"\s?(?:\.|\[dot\]|\(dot\))\s?[a-z]{2,}",
        "identifier_ssn": r"\b\d{3}[- ]\d{2}[- ]\d{4}\b",
        "contact_phone": r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\b\d{3})\s?[\s./\u00b7-]?\s?\d{3}"
                         r"\s?[\s./\u00b7-]?\s?\d{4}\b"
                         r"|\bext\.?\s*\d{2,}\b"
                         r"|\b1?[-\s]?8(?:00|33|44|55|66|77|88)[-\s][a-z0-9]{3}[-\s]?[a-z0-9]{4}\b"
                         r"|\b\d{3}[.-]\d{4}\b"
                         rf"|\b(?:{_DIGIT_WORD}|\d)(?:[\s,.-]*(?:{_DIGIT_WORD}|\d)){{6,}}\b",
        # Not "24/7", nor a rating or a share ("4.8 stars", "2.5%").
        "date_numeric": r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b(?!24/7\b)\d{1,2}\s?[/.-]\s?\d{1,2}"
                        r"(?:[/.-]\d{2,4})?\b(?!\s*(?:stars?|%|percent|out\s+of|points?|million"
                        r"|billion|x\b))",
        "date_named": rf"\b{_MONTH}\.?\s*\d{{1,2}}(?:st|nd|rd|th)?\b"
                      rf"|\b\d{{1,2}}(?:st|nd|rd|th|er)?[\s-]*(?:of\s+|de\s+)?{_MONTH}\b"
                      r"|\bngay\s+\d{1,2}\b|\bdia\s+\d{1,2}\b"
                      rf"|\bides\s+of\s+{_MONTH}\b"
                      rf"|\b(?:{_ORDINAL_WORD})\s+(?:of\s+)?{_MONTH}\b"
                      rf"|\b{_MONTH}\s+(?:the\s+)?(?:{_ORDINAL_WORD})\b",
        # Not "3rd floor", "the first time", "the Fifth Street lot".
        "date_ordinal": r"\b\d{1,2}\s?(?:st|nd|rd|th|er|eme|e)\b"
                        r"(?!\s+(?:floor|grade|annual|year|birthday|anniv))"
                        rf"|\b(?:on|el|the)\s+(?:the\s+)?(?:{_ORDINAL_WORD})\b"
                        r"(?!\s+(?:floor|time|step|visit|street|st|avenue|ave|road|rd"
                        r"|of\s+(?:many|its|our|the)))",
        "date_weekday_time": rf"\b{_WEEKDAY}\b[^a-z0-9]*(?:at\s+)?"
                             rf"(?:{_TIME}|(?:[01]\d|2[0-3])[0-5]\d\b)",
        "date_time": _TIME + r"|@\s*\d{1,2}(?::?\d{2})?(?:a|p)?\b|\bat\s+\d{1,2}(?::?\d{2})?\b"
                     r"(?!\s*(?:%|percent|minutes|min|locations|clinics|sites))"
                     rf"|\b(?:half|quarter)\s+(?:past|to|after|til)\s+{_HOUR_WORD}\b"
                     rf"|\b(?:{_HOUR_WORD}|\d{{1,2}})\s+o'?clock\b"
                     rf"|\b{_HOUR_WORD}[\s-](?:thirty|fifteen|forty[\s-]five)\b"
                     rf"|\b{_HOUR_WORD}\s?(?:a\.?m\.?|p\.?m\.?)(?![a-z])"
                     rf"|\bat\s+{_HOUR_WORD}(?:\s+(?:thirty|fifteen|forty[\s-]five|o'?clock))?\b"
                     r"|\ba\s+las\s+(?:\d{1,2}|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve"
                     r"|diez|once|doce)\b|\bmidnight\b|\b\d{1,2}\s?h(?:\s?\d{2})?\b|\b\d{1,2}\s?gio\b"
                     r"|\b(?:[01]\d|2[0-3]):?[0-5]\d\s?(?:hrs|hours|h)\b"
                     # "0930" (no quantity starts with 0), "around 4ish", "9a-9:20a".
                     r"|\b0\d[0-5]\d\b|\b\d{1,2}\s?ish\b|\b\d{1,2}(?::\d{2})?[ap]\b(?!\.?[a-z])"
                     r"|\b(?:arrive|arrival|by|before|after|appt|appointment)\s+(?:[01]\d|2[0-3])"
                     r"[0-5]\d\b"
                     r"|\b(?:by|until|till|from|between)\s+\d{1,2}(?::\d{2})?\s?(?:-|to|and)\s?"
                     r"\d{1,2}\b",
        "address_street": rf"\b{digits}\s+{side}{name}(?:{suffixes})\b\.?"
                          rf"|\b{words}{side}{name}(?:{_PLAIN_SUFFIXES})\b\.?"
                          rf"|\b(?:calle|avenida|camino)\s+[a-z]+|\b(?:{units})\s*#?\s*\d+[a-z]?\b"
                          r"|\bp\.?\s?o\.?\s+box\b|\b(?:route|rte|hwy|highway)\s+\d+\b"
                          r"|\b\d{2,6}\s+[nsew]\.?\s+[a-z]{3,}\b"  # "2210 N. Main"
                          r"|\bso\s+nha\s+\d+|\b\d+\s+duong\b",  # Vietnamese: house number, street
        "identifier_labelled": r"\b(?:mrn|m\s?r\s?n|med(?:ical)?\s*rec(?:ord)?"
                               r"|patient\s*(?:id|no|number|#)"
                               r"|encounter\s*(?:id|no|number|#)?|policy\s*(?:id|no|number|#)?"
                               r"|acct|account\s*(?:no|number|#)?|claim(?:\s*(?:no|number|#|id))?"
                               r"|member\s*(?:id|no|number|#)|case\s*(?:no|number|#)|ref(?:erence)?"
                               r"\s*(?:no|number|#)|id|dob|ssn|invoice\s*(?:no|number|#)?)"
                               r"(?:[\s:#.*x-]*(?:no|num|nbr)?[\s:#.*x-]*[a-z]{0,3}[-\s]?\d[\w-]*"
                               rf"|[\s:#.-]*(?:{_DIGIT_WORD}[\s,-]*){{3,}})",
        "identifier_ending": r"\b(?:ending|ends|termina)\s+(?:in\s+|with\s+|en\s+)?[-#]?\s*"
                             r"(?:\d|[a-z0-9]+[\s.,-])"
                             r"|\blast\s+(?:four|4|digits)\b",
        # "#1" is a rank; "****1234", "xxx-xx-1234" are masked numbers, still identifying.
        "identifier_hash": r"#\s*\d{2,}|\b[*x\u2022]{2,}(?:[\s.-]?[*x\u2022]{2,})*[\s.-]?\d{3,}"
                           r"|(?<![\w*])\*{2,}[\s.-]?\d{3,}",
        # A number of three or more digits after a word that makes it someone's.
        "identifier_named": r"\b(?:record|chart|confirmation|conf|order|ticket|subscriber|group"
                            r"|expediente|numero|registro|cuenta|poliza|dossier"
                            r"|plan|visit|file|tracking|voucher|authorization|auth|referral|rx"
                            r"|pin|badge|card|certificate|cert|enrollment|application|app|no|nº"
                            r"|num|number|nbr|medicaid|medicare|insurance|policy|member|patient)"
                            r"\s*(?:id|no|num|number|nbr)?\s*[:#.]?\s*[a-z]{0,3}[-\s]?\d{3,}\b",
        "identifier_digits": r"(?:\d[\s.-]?){5,}\d|\b[a-z]{1,3}\d{5,}\b",
    }


@cache
def _compiled() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    patterns = _patterns()
    # An address goes first: "at 1420 Riverside Drive" is not a clock time.
    address = re.compile(patterns.pop("address_street"))
    full = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in patterns.items()))
    # Most subjects have no digit, "@", "#" or number word: they need only the word patterns.
    words_only = re.compile("|".join(
        f"(?P<{name}>{patterns[name]})"
        for name in ("contact_email", "contact_phone", "date_named", "date_ordinal", "date_time",
                     "identifier_labelled", "identifier_ending")))
    return address, full, words_only


_NEEDS_FULL_SCAN = re.compile(r"[0-9@#]")
# A recent year, words and a whole-word suffix: "our 2026 community giving drive", where an
# address would be "2026 Valley View Dr" or have a direction ("2020 W Harrison St").
_YEAR_AND_WORDS = re.compile(r"(?:199\d|20[0-3]\d)\s+(?:[a-z'.]+\s+){1,3}[a-z]{5,}")
_NUMBER_WORDS = frozenset(skeleton(w) for w in (
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand").split())
# A subject with no digit, "@" or "#" can match a word pattern only if it has one of these.
_WORD_TRIGGERS = _NUMBER_WORDS | frozenset(skeleton(w) for w in (
    "jan january feb february mar march apr april may jun june jul july aug august sep sept "
    "september oct october nov november dec december first second third fourth fifth sixth "
    "seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth "
    "seventeenth eighteenth nineteenth twentieth thirtieth noon midnight clock oclock ending "
    "ends termina last dot ides").split())
_ADDRESS_TRIGGERS = _NUMBER_WORDS | frozenset(skeleton(w) for w in (
    "calle avenida camino box route apt apartment suite ste unit").split())


def detect(folded: str, words: set[str]) -> Finding | None:
    """The first identifying pattern in the folded subject, if any. ``words``: its skeleton
    words, which tell most subjects apart as needing no word pattern at all."""
    address, full, words_only = _compiled()
    digits = _NEEDS_FULL_SCAN.search(folded) is not None
    if digits or not words.isdisjoint(_ADDRESS_TRIGGERS):
        for found in address.finditer(folded):
            if not _YEAR_AND_WORDS.fullmatch(found.group()):
                return Finding("address", found.start(), found.end())
    if digits:
        pattern = full
    elif not words.isdisjoint(_WORD_TRIGGERS):
        pattern = words_only
    else:
        return None
    for match in pattern.finditer(folded):
        kind = match.lastgroup or ""
        if kind == "identifier_digits" and _is_year(match.group()):
            continue
        return Finding(kind.split("_", 1)[0], match.start(), match.end())
    return None


def _is_year(text: str) -> bool:
    return len(text) == 4 and text.isdigit() and 1900 <= int(text) <= 2100
