"""The frames that decide a word by its neighbours, as the pure functions they are: when
"results", "test", "prescription" make a subject more specific than a visit, and when a word
like "SNAP", "shot" or "kidney" is sensitive because of a cue beside it."""

from __future__ import annotations

import pytest

from service.subjects.ambiguous import ambiguous_term
from service.subjects.lexicon import load_lexicon
from service.subjects.normalise import fold, tokens
from service.subjects.specific import more_specific_than_a_visit

ENGLISH = load_lexicon().english


def specific(subject: str) -> bool:
    return more_specific_than_a_visit(tokens(fold(subject)), ENGLISH) is not None


def cued(subject: str) -> str | None:
    found = ambiguous_term(tokens(fold(subject)))
    return None if found is None else found.category


@pytest.mark.parametrize(
    ("subject", "refused"),
    [
        ("Your lab results are now available", True),
        ("New results posted to your portal", True),
        ("Results are in: costume contest winners", False),  # a contest's, anywhere
        ("Patient survey results", False),
        ("Results of our food drive", False),  # of the clinic's own
        ("Your test is due", True),
        ("Test email - please disregard", False),
        ("Put our new app to the test", False),
        ("Your prescription is ready for pickup", True),
        ("Prescription for fun: summer picnic", False),
        ("Your feedback is our prescription for better service", False),
        ("Receta de temporada: sopa de calabaza", False),  # a recipe
        ("Su receta est\u00e1 lista", True),
        ("Refill ready", True),
        ("rfill ready 4 pickup", True),  # a letter dropped
        ("Refill your coffee and read our newsletter", False),
        ("Free coffee refills in the waiting room", False),
        ("Sertraline dose change", True),
        ("A dose of good news", False),
        ("Une dose de bonne humeur", False),
        ("Taking the pulse: how are we doing?", False),  # "doing" is no "dosing"
        ("Your screening results", True),
        ("Movie screening in the atrium", False),
        ("Prior auth update from insurance", True),
        ("Insurance approved your pre-auth", True),
        ("Fasting reminder for your visit", True),
        ("Lab hours this week", False),
        ("Lab coats off: staff appreciation week", False),
        ("Treatment of your data: updated privacy policy", False),
        ("Spring cleaning for your medicine cabinet", False),
        ("Oak Hill Family Medicine newsletter", False),
    ],
)
def test_more_specific_than_a_visit(subject: str, refused: bool) -> None:
    assert specific(subject) is refused


@pytest.mark.parametrize(
    ("subject", "category"),
    [
        ("SNAP verification letter ready", "social"),
        ("Snap a photo of your insurance card", None),  # no program's business
        ("Help with your SNAP application", "social"),
        ("PSA: our parking lot is closed", None),
        ("Your PSA check is due", "test"),
        ("Free flu shot clinic - open to everyone", None),
        ("Flu shot clinic - open to everyone, no appointment needed", None),  # a negated cue
        ("Your child's vaccine is due", "procedure"),
        ("A shot of good news for your inbox", None),  # "a shot of"
        ("Brookside Kidney Associates: confirm your visit", "specialty"),
        ("Heart-warming news from our toy drive", None),
        ("Scan the QR code to pay your statement", None),
        ("Your scan is scheduled", "test"),
        ("Authorization approved - please schedule", "more-specific-than-a-visit"),
        ("Join our recovery group", "condition"),
        ("Congrats on 90 days sober!", "condition"),
    ],
)
def test_words_sensitive_only_with_a_cue(subject: str, category: str | None) -> None:
    assert cued(subject) == category
