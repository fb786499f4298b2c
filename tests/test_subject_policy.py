"""The subject policy: normalisation tricks, detectors, names, allowed phrases, the corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.subjects.normalise import fold, word_tokens
from service.subjects.policy import SubjectPolicy

POLICY = SubjectPolicy(allowed_phrases=("Riverside Heart Clinic",))
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("subject", "category"),
    [
        ("Upcoming Appointment Reminder", None),
        ("Time for your HIV follow-up", "health_term"),
        ("Time for your \u041dIV follow-up", "health_term"),  # Cyrillic capital En
        ("Time for your H\u200bIV follow-up", "health_term"),  # zero-width space
        ("Time for your H\u00adIV follow-up", "health_term"),  # soft hyphen
        ("Time for your \uff28\uff29\uff36 follow-up", "health_term"),  # full-width
        ("Your H I V results", "health_term"),
        ("Your h.i.v. clinic visit", "health_term"),
        ("Your H-I-V clinic visit", "health_term"),
        ("Your d1abetes check", "health_term"),
        ("Your c@ncer center visit", "health_term"),
        ("Your diabetis class", "health_term"),  # misspelt
        ("Your colonscopy prep", "health_term"),  # a letter dropped
        ("Your chemotherapie plan", "health_term"),
        ("Your dia betes class", "health_term"),  # split word
        ("Your diäbetes class", "health_term"),  # accent
        ("Your COPDD clinic", "health_term"),
        ("Your nephrology consult", "health_term"),  # any -ology specialty
        ("Your gastritis follow-up", "health_term"),  # any -itis
        ("Join our recovery group", "health_term"),
        ("Weight loss program for patients like you", "health_term"),
        ("Your Zoloft refill", "health_term"),  # a drug from the drug dictionary
        ("Appointment on 3/14", "date"),
        ("Appointment on 2026-03-14", "date"),
        ("See you March 14th", "date"),
        ("See you Monday at 9am", "date"),
        ("Your visit at 10:30", "date"),
        ("Call 555-123-4567", "contact"),
        ("Write to nurse.jones@clinic.example", "contact"),
        ("MRN 00123456 update", "identifier"),
        ("Claim #443219", "identifier"),
        ("SSN 123-45-6789", "identifier"),
        ("Reference 12345678", "identifier"),
        ("A message from Dr. Rivera", "name"),
        ("Reminder\r\nBcc: someone@example.org", "format"),
        ("Reminder\u2028more", "format"),
        ("   ", "format"),
        ("x" * 201, "format"),
    ],
)
def test_categories(subject: str, category: str | None) -> None:
    verdict = POLICY.check(subject)
    assert verdict.category == category
    assert verdict.ok is (category is None)


@pytest.mark.parametrize(
    "subject",
    [
        "Your 2026 statement",  # a year alone identifies no one
        "Our March newsletter",  # a month alone
        "Community health fair this Saturday",  # a weekday alone
        "Cancel or reschedule your visit",  # one letter from "cancer"
        "Your visit is tomorrow",  # "visit is" is not an "-itis"
        "Riverside Heart Clinic newsletter",  # the clinic's own name
        "Wellness newsletter: spring edition",
        "Please complete your intake forms",
        "New technology in our waiting room",  # -ology exception
        "Reminder!",
        "Upcoming \uff21ppointment Reminder",  # full-width letter, generic words
    ],
)
def test_generic_subjects_pass(subject: str) -> None:
    assert POLICY.check(subject).ok, POLICY.check(subject)


def test_the_recipients_name_and_address_are_refused() -> None:
    kwargs = {"recipient_names": ["Jordan Example"], "recipient_email": "jexample@mail.test"}
    assert POLICY.check("Jordan, your reminder", **kwargs).category == "name"  # type: ignore[arg-type]
    assert POLICY.check("A note for J o r d a n", **kwargs).category == "name"  # type: ignore[arg-type]
    assert POLICY.check("Hello jexample", **kwargs).category == "name"  # type: ignore[arg-type]
    assert POLICY.check("Your upcoming visit", **kwargs).ok  # type: ignore[arg-type]


def test_reasons_never_quote_the_subject() -> None:
    for subject in ("Your HIV results", "MRN 1234567", "Dr. Rivera says hi", "Call 555-123-4567"):
        verdict = POLICY.check(subject)
        assert not verdict.ok
        for word in subject.split():
            if len(word) > 3:
                assert word.lower() not in verdict.reason.lower()


def test_normalisation_joins_spaced_letters_but_not_words() -> None:
    assert word_tokens(fold("H I V test")) == ["hiv", "test"]
    assert word_tokens(fold("a b c d and more")) == ["abcd", "and", "more"]
    assert word_tokens(fold("Reminder!")) == ["reminder"]


def load(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in (DATA / name).read_text().splitlines():
        if line and not line.startswith("#"):
            label, _, subject = line.partition("\t")
            rows.append((label, subject))
    return rows


@pytest.mark.parametrize("corpus", ["subject_corpus.tsv", "subject_holdout.tsv"])
def test_corpus_meets_the_targets(corpus: str) -> None:
    policy = SubjectPolicy(allowed_phrases=("Riverside Clinic",))
    rows = load(corpus)
    sensitive = [s for label, s in rows if label == "sensitive"]
    generic = [s for label, s in rows if label == "generic"]
    assert len(rows) >= 100 and sensitive and generic
    caught = sum(not policy.check(s).ok for s in sensitive) / len(sensitive)
    wrongly = sum(not policy.check(s).ok for s in generic) / len(generic)
    assert caught >= 0.99
    assert wrongly <= 0.02


def test_check_subjects_verb_lints_stdin_line_by_line() -> None:
    lines = "Upcoming Appointment Reminder\nYour HIV results\nCall 555-123-4567\n\nHoliday hours\n"
    result = subprocess.run(
        [sys.executable, "-m", "service", "check-subjects"], input=lines, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert result.returncode == 0
    out = result.stdout.splitlines()
    assert len(out) == 5
    assert out[0] == "ok" and out[4] == "ok"
    assert out[1].startswith("reject\thealth_term")
    assert out[2].startswith("reject\tcontact")
    assert out[3].startswith("reject\tformat")
    assert "HIV" not in result.stdout and "555" not in result.stdout
