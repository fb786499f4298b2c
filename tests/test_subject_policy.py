"""The subject policy: each category, the frames that make a word personal or figurative, the
clinic's own names, spans, strict mode, obfuscation, and the check-subjects verb."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.subjects.normalise import fold, word_tokens
from service.subjects.policy import _KEPT, SubjectPolicy

POLICY = SubjectPolicy(allowed_phrases=("Riverside Heart Clinic",))


@pytest.mark.parametrize(
    ("subject", "category"),
    [
        ("Upcoming Appointment Reminder", None),
        # Obfuscation is judged after decoding.
        ("Time for your HIV follow-up", "condition"),
        ("Time for your \u041dIV follow-up", "condition"),  # Cyrillic capital En
        ("Time for your H\u200bIV follow-up", "condition"),  # zero-width space
        ("Time for your H\u00adIV follow-up", "condition"),  # soft hyphen
        ("Time for your \uff28\uff29\uff36 follow-up", "condition"),  # full-width
        ("Your h.i.v. clinic visit", "condition"),
        ("Your d1abetes check", "condition"),
        ("Your diabetis class", "condition"),  # misspelt
        ("Your dia betes class", "condition"),  # split word
        ("Your COPDD clinic", "condition"),
        ("Managing your IBS", "condition"),  # an abbreviation
        ("Your gastritis follow-up", "condition"),  # any -itis
        ("Your colonscopy prep", "procedure"),  # a letter dropped
        ("Root canal follow-up", "procedure"),
        ("Your nephrology consult", "specialty"),  # any -ology
        ("Appt Reminder - Valley Oncology", "specialty"),  # a practice revealing a specialty
        ("Women's Health Associates: your visit", "specialty"),  # ... or a population
        ("Your Zoloft refill", "drug"),
        ("Descovy pickup reminder", "drug"),
        ("Z0l0ft refill ready", "drug"),
        ("Your HbA1c is due", "test"),
        ("Lipid panel reminder", "test"),
        ("Help with your SNAP application", "social"),
        ("Court-ordered evaluation scheduled", "social"),
        ("Gender-affirming care: your next visit", "specialty"),
        ("Housing assistance paperwork ready", "social"),
        ("Maria, your reminder", "name"),
        ("Hi Jennifer, please confirm", "name"),
        ("Grace, confirm your visit", "name"),  # a common word where only a name fits
        ("Fwd: Smith, Robert - appt", "name"),
        ("A message from Dr. Rivera", "clinician"),
        ("Ana Ruiz, CNM: confirm your visit", "clinician"),  # a credential, no title
        ("Message from Brooks, PA-C", "clinician"),
        ("Your RN Kelly will call you", "clinician"),
        ("D r . S m i t h will see you now", "clinician"),
        ("Appointment on 3/14", "date"),
        ("See you March 14th", "date"),
        ("Reminder: visit on the fourteenth", "date"),
        ("Check in at half past two", "date"),
        ("Appt @ 1O:3O", "date"),  # letters for digits
        ("Appt on the 1 4 t h", "date"),  # spaced out
        ("Su cita: el 14 de marzo", "date"),
        ("Appt Tues 0930 - please confirm", "date"),
        ("Call 555-123-4567", "contact"),
        ("five five five, two oh one, three three four four", "contact"),
        ("Email sched [at] lakeviewpc [dot] org", "contact"),
        ("MRN 00123456 update", "identifier"),
        ("Member number ending in four five two", "identifier"),
        ("SSN last four 3309 - please verify", "identifier"),
        ("Acct. no. ****1234 statement", "identifier"),
        ("M.R.N. zero zero four eight two nine", "identifier"),
        ("Your visit at 412 Elm St", "address"),
        ("Letter sent to one twenty Lakeview Drive", "address"),
        ("Package returned: 27 Oak St Apt 4B", "address"),
        ("Your lab results are now available", "more-specific-than-a-visit"),
        ("Your prescription is ready for pickup", "more-specific-than-a-visit"),
        ("Referral received - next steps", "more-specific-than-a-visit"),
        ("Prior authorization approved", "more-specific-than-a-visit"),
        ("Prep instructions for your upcoming visit", "more-specific-than-a-visit"),
        ("R e f i l l  r e a d y", "more-specific-than-a-visit"),
        ("Sus resultados est\u00e1n listos", "more-specific-than-a-visit"),
        ("\u9884\u7ea6\u63d0\u9192", "unsupported-script"),  # can't be read: fails closed
        ("Reminder\r\nBcc: someone@example.org", "format"),
        ("Reminder\u2028more", "format"),
        ("   ", "format"),
        ("x" * 201, "format"),
    ],
)
def test_categories(subject: str, category: str | None) -> None:
    verdict = POLICY.check(subject)
    assert verdict.category == category, verdict
    assert verdict.ok is (category is None)


@pytest.mark.parametrize(
    "subject",
    [
        # The everyday and figurative uses of health words stay usable.
        "Test email - please disregard",
        "Patient survey results",
        "Results are in: costume contest winners",
        "A dose of good news",
        "Prescription for fun: summer picnic",
        "Your feedback is our prescription for better service",
        "Refill your coffee and read our newsletter",
        "Our diagnosis: you're awesome!",
        "Movie screening at our community night",
        "Shot of gratitude: thank you, neighbors",
        "Treatment of your data: updated privacy policy",
        "Cold and flu season: tips for the whole family",
        "Free flu shot clinic - open to everyone",
        "Labor Day hours",
        "Vital updates to our parking",
        "Holiday stress? Tips for everyone",
        "Blood drive this month - every donor welcome",
        # Names that are everyday words, and calendar words that are names.
        "Grace period for online bill pay ends soon",
        "Hope to see you at our open house",
        "Mark your calendar: health fair",
        "Brown bag lunch talk for the community",
        "Closed Monday for Labor Day",
        "We're moving! New location opening in June",
        "Fireworks safety this Fourth of July",
        "Sl\u00e1inte! St. Patrick's Day wellness tips",
        # Numbers that place no one.
        "Your 2026 statement",
        "Top 10 tips for summer",
        "Join our community 5K fun run",
        "Three ways to get the most from your visit",
        "The results are in: thank you for voting us #1",
        # Visit logistics and other languages.
        "Telehealth visit: how to join",
        "Reply C to confirm, R to reschedule",
        "Your visit summary is available",
        "Recordatorio de cita: por favor confirme",
        "Tu cita de ma\u00f1ana",
        "Rappel : votre rendez-vous",
        "X\u00e1c nh\u1eadn l\u1ecbch h\u1eb9n",
        "Sarado kami ngayong araw",  # lowercase in a sentence: a word, whatever lists it
        "Riverside Heart Clinic newsletter",  # the clinic's own name
        "Upcoming \uff21ppointment Reminder",  # full-width letter, generic words
    ],
)
def test_generic_subjects_pass(subject: str) -> None:
    assert POLICY.check(subject).ok, POLICY.check(subject)


def test_practice_names_are_not_evidence() -> None:
    names = ["Oak Hill Family Medicine", "Grace Hill Primary Care"]
    assert POLICY.check("Welcome to Oak Hill Family Medicine", practice_names=names).ok
    assert POLICY.check("GRACE HILL PRIMARY CARE - holiday hours", practice_names=names).ok
    assert POLICY.check("Oak Hill Cancer Center: your visit", practice_names=names).category \
        == "condition"
    # A name the admins may list: a person's or a place's, but not a specialty's.
    assert POLICY.check_practice_name("Smith Family Practice").ok
    assert POLICY.check_practice_name("Oak Hill Family Medicine").ok
    assert not POLICY.check_practice_name("Oak Hill Cancer Center").ok
    assert not POLICY.check_practice_name("Valley Fertility Associates").ok


@pytest.mark.parametrize(
    ("subject", "span"),
    [
        ("Time for your HIV follow-up", "HIV"),
        ("Time for your H\u200bIV follow-up", "H\u200bIV"),
        ("Appt with Dr. Ahm\u0435d", "Dr. Ahm\u0435d"),
        ("Hi Jennifer, please confirm", "Jennifer"),
        ("Call 555-123-4567 today", "555-123-4567"),
        ("Appt on the 1 4 t h", "1 4 t h"),
    ],
)
def test_the_span_points_at_the_refused_words_as_sent(subject: str, span: str) -> None:
    verdict = POLICY.check(subject)
    assert verdict.span is not None
    assert subject[verdict.span[0] : verdict.span[1]] == span


def test_strict_mode_refuses_words_outside_the_general_vocabulary() -> None:
    assert POLICY.check("Upcoming appointment reminder", strict=True).ok
    assert POLICY.check("Your billing statement is ready", strict=True).ok
    # A coinage no list foresaw passes the detector and fails closed in strict mode.
    assert POLICY.check("Your Xyloquent follow-up").ok
    verdict = POLICY.check("Your Xyloquent follow-up", strict=True)
    assert verdict.category == "unknown-word"
    assert verdict.span == (5, 14)


def test_the_recipients_name_and_address_are_refused() -> None:
    kwargs = {"recipient_names": ["Jordan Example"], "recipient_email": "jexample@mail.test"}
    assert POLICY.check("Jordan, your reminder", **kwargs).category == "name"  # type: ignore[arg-type]
    assert POLICY.check("A note for J o r d a n", **kwargs).category == "name"  # type: ignore[arg-type]
    assert POLICY.check("Hello jexample", **kwargs).category == "name"  # type: ignore[arg-type]
    assert POLICY.check("Your upcoming visit", **kwargs).ok  # type: ignore[arg-type]


def test_a_subject_read_once_is_still_judged_for_each_recipient() -> None:
    """A kept subject's reading serves the next send; the recipient's own names are checked
    every time, whichever recipient came first."""
    policy = SubjectPolicy()
    maple = {"recipient_names": ["Maple Example"], "recipient_email": "maple@mail.test"}
    subject = "Upcoming visit at Maple Grove"
    assert policy.check(subject, keep=True).ok
    verdict = policy.check(subject, keep=True, **maple)  # type: ignore[arg-type]
    assert (verdict.category, verdict.span) == ("name", (18, 23))
    assert policy.check(subject, recipient_names=["Jordan Example"], keep=True).ok
    assert not policy.check(subject, recipient_email="grove.maple@mail.test", keep=True).ok


def test_what_the_clinic_names_decides_is_not_carried_to_another_list() -> None:
    """The organization's practice names are part of what was read: a name another
    organization lists is still evidence without that list."""
    policy = SubjectPolicy()
    subject = "News from Valley Fertility Associates"
    assert policy.check(subject, practice_names=["Valley Fertility Associates"], keep=True).ok
    assert policy.check(subject, keep=True).category == "condition"
    assert policy.check(subject, practice_names=["Oak Hill Family Medicine"],
                        keep=True).category == "condition"


def test_only_texts_that_passed_and_were_asked_for_are_kept() -> None:
    """A refused text may be the very PHI being refused, even when only its recipient's own
    name refused it; a verification hint is not asked to be kept."""
    policy = SubjectPolicy()
    maple = {"recipient_names": ["Maple Example"]}
    for subject in ("Time for your HIV follow-up", "MRN 1234567", "Hi Jennifer, please confirm",
                    "Line\nbreak", "x" * 201):
        assert not policy.check(subject, keep=True).ok
    assert not policy.check("Upcoming visit for Maple", keep=True, **maple).ok  # type: ignore[arg-type]
    assert policy.check("Your date of birth").ok  # a hint
    assert policy.check("Upcoming Appointment Reminder", keep=True).ok
    kept = policy._kept  # what the process holds is the point
    assert [key[0] for key in kept] == ["Upcoming Appointment Reminder"]


def test_the_subjects_in_use_stay_kept() -> None:
    """When the store is full, the subject least recently used goes, not the oldest kept."""
    policy = SubjectPolicy()
    daily = "Upcoming Appointment Reminder"
    # Other organizations' sends of the same subject: each list of practice names is a key.
    others = [(f"Clinic {n}",) for n in range(_KEPT)]
    assert policy.check(daily, keep=True).ok
    for names in others[:-1]:
        assert policy.check(daily, practice_names=names, keep=True).ok
    assert policy.check(daily, keep=True).ok  # used again: now the most recent
    assert policy.check(daily, practice_names=others[-1], keep=True).ok  # full: one must go
    kept = policy._kept
    assert len(kept) == _KEPT
    assert (daily, (), False) in kept
    assert (daily, others[0], False) not in kept


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
    assert word_tokens(fold("R e f i l l  r e a d y")) == ["refiii", "ready"]
    assert word_tokens(fold("Reminder!")) == ["reminder"]


def test_check_subjects_verb_prints_category_and_span_never_the_text() -> None:
    lines = ("Upcoming Appointment Reminder\nYour HIV results\nCall 555-123-4567\n\n"
             "Holiday hours\nOak Hill Family Medicine: holiday hours\nYour Xyloquent visit\n")
    result = subprocess.run(
        [sys.executable, "-m", "service", "check-subjects",
         "--practice-name", "Oak Hill Family Medicine", "--strict"],
        input=lines, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in out] == ["ok", "reject", "reject", "reject", "ok", "ok", "reject"]
    assert out[1][1:3] == ["condition", "5-8"]
    assert out[2][1:3] == ["contact", "5-17"]
    assert out[3][1:3] == ["format", "-"]
    assert out[6][1:3] == ["unknown-word", "5-14"]
    assert "HIV" not in result.stdout and "555" not in result.stdout
