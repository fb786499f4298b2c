"""The subject-line policy: a subject is generic when it reveals nothing about the recipient's
health or identity. Pure; the lexicon is loaded once per process.

Refused: a condition, symptom, test or result, procedure, treatment, drug, device, specialty or
department, a care program tied to a condition, a person's name (the recipient's, or anyone
with a title such as "Dr."), a date or time, a phone number, an e-mail address, an identifier.
Allowed: general-purpose wording (appointment, visit, message, reminder, newsletter, statement,
forms, feedback, hours, location, wellness, health), the clinic's own name, a year, a month or a
weekday alone. Every check runs after normalisation (see normalise.py), so confusable
letters, invisible characters, spacing, leetspeak and near-misspellings do not hide a word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.subjects.detectors import detect
from service.subjects.lexicon import Lexicon, load_lexicon
from service.subjects.normalise import fold, word_tokens

MAX_SUBJECT_CHARS = 200
# Header injection and line breaks of every kind: C0 controls, DEL, NEL, line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
# Adjacent fragments are rejoined up to this many ("dia bet es"), to undo split words.
_MAX_JOIN = 3
_FRAGMENT = 4

REASONS = {
    "format": "contains line breaks or control characters",
    "empty": "is empty",
    "long": f"is longer than {MAX_SUBJECT_CHARS} characters",
    "health_term": "names a health condition, test, treatment, drug, device, specialty or program",
    "identifier": "contains an identifier such as a record, account, claim or ID number",
    "date": "contains a date or a time",
    "contact": "contains a phone number or an e-mail address",
    "name": "contains a person's name",
}


@dataclass(frozen=True, slots=True)
class SubjectVerdict:
    ok: bool
    category: str | None  # None when ok; format, health_term, identifier, date, name, contact
    reason: str  # never contains the subject or the matched term


OK = SubjectVerdict(True, None, "")


def _refuse(category: str, reason_key: str | None = None) -> SubjectVerdict:
    return SubjectVerdict(False, category, REASONS[reason_key or category])


class SubjectPolicy:
    def __init__(self, *, allowed_phrases: Sequence[str] = ()) -> None:
        self._lexicon: Lexicon = load_lexicon()
        # Longest first, so "Riverside Heart Clinic" goes before a shorter allowed phrase in it.
        self._allowed = sorted((fold(p) for p in allowed_phrases if p.strip()), key=len,
                               reverse=True)

    def check(
        self, subject: str, *, recipient_names: Sequence[str] = (),
        recipient_email: str | None = None,
    ) -> SubjectVerdict:
        if _CONTROL.search(subject):
            return _refuse("format")
        if not subject.strip():
            return _refuse("format", "empty")
        if len(subject) > MAX_SUBJECT_CHARS:
            return _refuse("format", "long")
        folded = fold(subject)
        for phrase in self._allowed:
            folded = folded.replace(phrase, " ")
        found = detect(folded)
        if found is not None:
            return _refuse(found)
        tokens = word_tokens(folded)
        if self._names_person(tokens, recipient_names, recipient_email):
            return _refuse("name")
        if self._names_health(tokens):
            return _refuse("health_term")
        return OK

    def _names_health(self, tokens: list[str]) -> bool:
        lexicon = self._lexicon
        count = len(tokens)
        for i, token in enumerate(tokens):
            if lexicon.is_term(token) or lexicon.is_misspelt_term(token):
                return True
            if token in lexicon.phrase_starts:
                for size in range(2, min(lexicon.longest_phrase, count - i) + 1):
                    if " ".join(tokens[i : i + size]) in lexicon.phrases:
                        return True
            # Rejoin a word split into fragments ("dia betes"). The join must spell a term
            # exactly: suffix and misspelling rules on joins would read "visit is" as "-itis".
            if len(token) <= _FRAGMENT and i + 1 < count:
                joined = token
                for size in range(2, min(_MAX_JOIN, count - i) + 1):
                    joined += tokens[i + size - 1]
                    if len(joined) >= 5 and joined in lexicon.terms:
                        return True
            elif i + 1 < count and len(tokens[i + 1]) <= _FRAGMENT:
                if token + tokens[i + 1] in lexicon.terms:
                    return True
        return False

    @staticmethod
    def _names_person(
        tokens: list[str], names: Sequence[str], email: str | None
    ) -> bool:
        parts = {part for name in names for part in word_tokens(fold(name)) if len(part) >= 2}
        if email:
            local = word_tokens(fold(email.partition("@")[0]))
            parts.update(part for part in local if len(part) >= 4)
        if not parts:
            return False
        joined = {"".join(tokens[i : i + 2]) for i in range(len(tokens))}
        return any(token in parts for token in tokens) or bool(parts & joined)

