"""The subject-line policy: a subject is refused when someone who sees only it and the
address could learn more about the recipient than a generic appointment reminder reveals (that
the person is a patient with a visit). The README's "Subject lines" section is the policy in
prose; this module is its one implementation.

Refused, by category: a condition, test, drug or device, procedure, specialty (department,
condition-specific clinic or program, a practice name that reveals a specialty or population),
socially sensitive situation, clinician, any personal name, identifier, street address, date of
the month or clock time, phone number or e-mail address, and subjects more specific than a visit
(results, prescriptions, refills, referrals, authorizations, procedure preparation) even when
nothing is named. Allowed: general-purpose wording, the clinic's own names, a year, a month, a
weekday or a holiday alone. Every check runs after normalisation (see normalise.py), so
lookalike letters, invisible characters, spacing, leetspeak and misspellings do not hide a word.
``strict`` refuses, in addition, every word outside a curated general vocabulary.

A verdict depends on its inputs alone; a policy object only keeps what it read of the subjects
its callers ask it to keep (``SubjectPolicy.check``'s ``keep``), to read them faster next time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.subjects.ambiguous import ambiguous_term
from service.subjects.detectors import detect
from service.subjects.findings import Finding
from service.subjects.lexicon import Lexicon, load_lexicon
from service.subjects.names import Casing, Names, load_names, recipient_name
from service.subjects.normalise import (
    Folded,
    Token,
    compact,
    decode_words,
    fold,
    fold_text,
    tokens,
    unreadable_words,
)
from service.subjects.specific import more_specific_than_a_visit
from service.subjects.vocabulary import unknown_word

MAX_SUBJECT_CHARS = 200
# Header injection and line breaks of every kind: C0 controls, DEL, NEL, line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")

REASONS = {
    "format": "contains line breaks or control characters",
    "empty": "is empty",
    "long": f"is longer than {MAX_SUBJECT_CHARS} characters",
    "condition": "names a health condition or symptom",
    "drug": "names a drug, drug class or medical device",
    "test": "names a test, lab, screening or scan",
    "procedure": "names a procedure, surgery, therapy or treatment",
    "specialty": "names a specialty or department, or a clinic or program tied to a condition "
                 "or a patient population",
    "social": "names a socially sensitive situation (benefits, housing, legal, immigration, "
              "gender, safety)",
    "more-specific-than-a-visit": "says more than that there is a visit (results, "
                                  "prescriptions, refills, referrals, authorizations, "
                                  "preparation for a procedure)",
    "clinician": "names a clinician",
    "name": "contains a person's name",
    "identifier": "contains an identifier or part of one, such as a record, member, account "
                  "or claim number",
    "address": "contains a street address",
    "date": "contains a date of the month or a clock time",
    "contact": "contains a phone number or an e-mail address",
    "unknown-word": "contains a word outside the strict mode's general vocabulary",
    "unsupported-script": "has words in a script the detector cannot read; an admin who reads "
                          "it can add it to the approved subjects",
}
CATEGORIES = tuple(key for key in REASONS if key not in ("empty", "long"))


@dataclass(frozen=True, slots=True)
class SubjectVerdict:
    ok: bool
    category: str | None  # None when ok; one of CATEGORIES
    reason: str  # never contains the subject or the matched term
    # Where, in the subject as sent: [start, end) in Unicode code points.
    span: tuple[int, int] | None = None


OK = SubjectVerdict(True, None, "")


def _refuse(category: str, reason_key: str | None = None,
            span: tuple[int, int] | None = None) -> SubjectVerdict:
    return SubjectVerdict(False, category, REASONS[reason_key or category], span)


@lru_cache(maxsize=1024)
def _phrases_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One expression for all of an organization's own names, longest first (so "Riverside
    Heart Clinic" goes before a shorter name inside it), words apart by any punctuation."""
    alternatives = []
    for phrase in sorted(phrases, key=len, reverse=True):
        words = re.findall(r"[^\W_]+", fold(phrase))
        if words:
            alternatives.append(r"[\W_]*".join(map(re.escape, words)))
    if not alternatives:
        return None
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + r")(?![^\W_])")


# Holidays whose names hold a date: about the clinic's own operations, they place no one.
HOLIDAYS = ("fourth of july", "4th of july", "cinco de mayo", "new year's eve",
            "new year's day", "new years eve", "new years day", "christmas eve", "christmas day",
            "st patrick's day", "st. patrick's day", "saint patrick's day", "mother's day",
            "father's day", "valentine's day", "presidents' day", "martin luther king",
            "eid mubarak", "eid al fitr", "eid al adha", "semana santa", "la toussaint",
            "dia de los muertos", "dia de muertos", "rosh hashanah", "yom kippur")


# Subjects a send was allowed to carry, kept per process with what was read of them: a clinic
# sends the same few subjects all day, and reading one cost more than the rest of accepting it.
# Kept only once a whole verdict passed (the outbox stores such a subject as it is) and only
# where the caller asks (``keep``: subjects, not verification hints); a refused text never is.
_KEPT = 1024


@dataclass(frozen=True, slots=True)
class _Reading:
    """What the checks found in a subject before its recipient is known: ``before`` by those
    that go before the recipient's own names, ``after`` by the rest."""

    folded: Folded
    words: tuple[Token, ...]
    before: Finding | None
    after: Finding | None


class SubjectPolicy:
    def __init__(self, *, allowed_phrases: Sequence[str] = ()) -> None:
        self._lexicon: Lexicon = load_lexicon()
        self._names: Names = load_names()
        self._allowed = tuple(p for p in (*allowed_phrases, *HOLIDAYS) if p.strip())
        self._kept: dict[tuple[str, tuple[str, ...], bool], _Reading] = {}

    def check(
        self, subject: str, *, recipient_names: Sequence[str] = (),
        recipient_email: str | None = None, practice_names: Sequence[str] = (),
        strict: bool = False, keep: bool = False,
    ) -> SubjectVerdict:
        """The verdict on ``subject`` for one recipient. ``keep``: once passed, keep what was
        read of it, so that its next check reads only the recipient's names again."""
        key = (subject, tuple(practice_names), strict)
        reading = self._kept.pop(key, None)
        kept = reading is not None
        if reading is None:
            if (refused := _unfit_text(subject)) is not None:
                return refused
            reading = self._read(subject, key[1], strict=strict)
        finding = (reading.before
                   or recipient_name(reading.words, recipient_names, recipient_email)
                   or reading.after)
        if kept or (keep and finding is None):
            if not kept and len(self._kept) >= _KEPT:
                del self._kept[next(iter(self._kept))]  # the least recently used
            self._kept[key] = reading  # last: the most recently used
        if finding is None:
            return OK
        return _refuse(finding.category, span=_span(reading.folded, finding))

    def check_approval(self, subject: str, *, practice_names: Sequence[str] = ()) -> SubjectVerdict:
        """Whether an admin may approve ``subject``. The admin reads it, so words in a script
        the detector cannot read are the admin's to judge; everything else must pass."""
        for start, end in unreadable_words(subject):
            subject = subject[:start] + " " * (end - start) + subject[end:]
        return self.check(subject, practice_names=practice_names)

    def check_practice_name(self, name: str) -> SubjectVerdict:
        """Whether an admin may list ``name`` as one of the organization's practice names: it
        may be a person's ("Smith Family Practice") or a place's, but must not reveal a
        specialty or a population ("Oak Hill Cancer Center")."""
        verdict = self.check(name)
        if verdict.category in ("name", "clinician", "address"):
            return OK
        return verdict

    def _without_own_names(self, text: str, practice_names: Sequence[str]) -> str:
        """The clinic's own names are not evidence: blanked, keeping every offset."""
        pattern = _phrases_pattern((*practice_names, *self._allowed))
        if pattern is None:
            return text
        return pattern.sub(lambda m: " " * len(m.group()), text)

    def _read(self, subject: str, practice_names: Sequence[str], *, strict: bool) -> _Reading:
        folded = fold_text(subject)
        text = self._without_own_names(folded.text, practice_names)
        words = tokens(text)
        seen = {word.text for word in words}
        closed = compact(text)
        found = detect(text, seen) or _detect_decoded(text, words, seen, closed)
        if found is not None:
            return _Reading(folded, tuple(words), found, None)
        return _Reading(folded, tuple(words), None, (
            self._names.find(words, text, self._lexicon, _casing(subject, folded, words))
            or self._lexicon.find(words, text)
            or self._compacted_term(closed)
            or ambiguous_term(words)
            or more_specific_than_a_visit(words, self._lexicon.english)
            or (unknown_word(words) if strict else None)
        ))

    def _compacted_term(self, closed: tuple[str, list[int]] | None) -> Finding | None:
        """A term spelt with its digits spaced out too ("your A 1 c"); ``closed``: the subject
        compacted, as normalise.compact gives it."""
        if closed is None:
            return None
        compacted, origin = closed
        found = self._lexicon.find(tokens(compacted), compacted)
        if found is None:
            return None
        return Finding(found.category, origin[found.start], origin[found.end - 1] + 1)


def _unfit_text(subject: str) -> SubjectVerdict | None:
    """Refused before any word is read: control characters, empty, too long, or a script the
    detector cannot read."""
    if _CONTROL.search(subject):
        return _refuse("format")
    if not subject.strip():
        return _refuse("format", "empty")
    if len(subject) > MAX_SUBJECT_CHARS:
        return _refuse("format", "long")
    if unreadable := unreadable_words(subject):
        return _refuse("unsupported-script", span=unreadable[0])
    return None


def _detect_decoded(
    text: str, words: list[Token], seen: set[str], closed: tuple[str, list[int]] | None
) -> Finding | None:
    """The patterns again over the subject decoded: digits inside words read as letters ("on
    the f0urteenth"), spaced-out characters closed up (``closed``: "Appt on the 1 4 t h"), and,
    last, the words alone ("at t w o t h i r t y")."""
    decoded = decode_words(text)
    if decoded is not None and (found := detect(decoded, seen)) is not None:
        return found  # same length: the offsets hold
    if closed is None:
        return None
    compacted, origin = closed
    if (found := detect(compacted, seen)) is not None:
        return Finding(found.category, origin[found.start], origin[found.end - 1] + 1)
    if (found := detect(" ".join(w.text for w in words), seen)) is not None:
        return Finding(found.category, words[0].start, words[-1].end)
    return None


def _casing(subject: str, folded: Folded, words: list[Token]) -> Casing:
    caps = [subject[folded.span(w.start, w.end)[0]].isupper() for w in words]
    later = caps[1:]
    informative = not (not later or sum(later) * 2 > len(later) or subject.upper() == subject
                       or subject.lower() == subject)  # Title Case, ALL CAPS, all lower case
    return Casing(caps, informative)


def _span(folded: Folded, finding: Finding) -> tuple[int, int]:
    return folded.span(finding.start, finding.end)


__all__ = ["CATEGORIES", "REASONS", "SubjectPolicy", "SubjectVerdict", "Token"]
