"""Words that are sensitive only in a clinical frame: "SNAP" is a benefit program in "SNAP
verification letter" and a verb in "Snap a photo of your insurance card"; "PSA" is a test in
"Your PSA check is due" and an announcement in "PSA: our parking lot is closed"; a flu shot is
for everyone until it is "your child's". Each such word counts, with its category, when the
subject also has one of its cue words; alone it passes. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.subjects.findings import Finding
from service.subjects.normalise import Token, skeleton


def _words(text: str) -> frozenset[str]:
    return frozenset(skeleton(w) for w in text.split())


# Cues that make a word someone's: a case, a visit, a result.
_CASE = _words(
    "your su sus tu tus application applications apply verification verify letter card "
    "benefit benefits eligibility eligible enrollment enroll intake recertification renewal "
    "interview paperwork documents forms form case bed beds stay placement referral "
    "appointment appointments appt visit visits department center centre level levels "
    "result results due screening reminder scheduled schedule confirmed instructions prep "
    "test tests order ordered approved denied status update record records child recert")
_GROUP = _CASE | _words("group meeting meetings program support class session sessions")
# Vaccines are for everyone ("Free flu shot clinic, open to all") until they are someone's.
_PERSONAL = _words("your su sus tu tus child childs kid kids baby son daughter due overdue "
                   "record records reminder missed appointment appointments appt visit "
                   "scheduled confirmed")


@dataclass(frozen=True, slots=True)
class _Entry:
    category: str
    cues: frozenset[str]
    figurative_of: bool  # "a shot of good news", "a facelift of our lobby"


# A benefit program's own business: "SNAP verification letter", not "Snap a photo of your card".
_PROGRAM = _words("application applications apply verification verify benefit benefits "
                  "eligibility eligible enrollment enroll recert recertification renewal "
                  "interview paperwork documents case ebt letter help assistance office")
_LOOKS = _CASE | _words("book booking consult consultation touch glow spa")
_PRACTICES = _words("associates clinic clinics institute specialists partners group doctors lab")
# A scan is someone's by its appointment, not by "your": "Scan the QR code to pay your bill".
_SCAN = _CASE - _words("your su sus tu tus") | _words("recheck")
# "No appointment needed" makes nothing anyone's.
_NEGATIONS = _words("no without sin")
_TABLE = (
    ("social", "snap chip calfresh", _PROGRAM, False),
    ("social", "shelter shelters", _CASE - _words("card"), False),
    ("test", "psa imaging labwork", _CASE | _words("recheck follow followup fu"), False),
    ("more-specific-than-a-visit", "authorization authorizations auth",
     _words("approved denied pending needed expired requested request status renewal"), False),
    ("test", "scan scans", _SCAN, False),
    ("condition", "flare recovery", _GROUP, False),
    ("procedure", "vaccine vaccines vaccination vaccinations immunization immunizations shot "
                  "shots booster boosters", _PERSONAL, True),
    ("condition", "covid coronavirus", _PERSONAL, False),
    ("drug", "walker walkers cane wheelchair wheelchairs oxygen", _CASE, False),
    ("procedure", "induction", _CASE, False),
    ("procedure", "facelift facial facials filler fillers", _LOOKS, True),
    ("more-specific-than-a-visit", "pa", _words("denied approved appeal request requested "
                                               "pending submitted status"), False),
    ("more-specific-than-a-visit", "prep", _CASE | _words("kit day procedure"), False),
    ("more-specific-than-a-visit", "finding findings", _CASE | _words("back specialist"), True),
    ("specialty", "gi bh ent", _CASE | _PRACTICES | _words("scheduling"), False),
    # A body part named with a practice: "Brookside Kidney Associates", "Skin & Laser Institute".
    ("specialty", "kidney heart skin eye eyes ear bone bones joint joints spine foot feet lung "
                  "lungs liver brain breast vein veins hand knee hip sleep stomach digestive "
                  "colon bladder vision hearing memory", _PRACTICES, False),
    ("procedure", "pt", _words("session sessions approved visits therapy"), False),
    ("condition", "mood headache headaches sugar sugars", _PERSONAL | _words("still having"),
     False),
    ("condition", "sober sobriety", _CASE | _words("days months year years congrats"), False),
)
AMBIGUOUS = {skeleton(w): _Entry(category, cues, of)
             for category, words, cues, of in _TABLE for w in words.split()}


def ambiguous_term(words: list[Token]) -> Finding | None:
    texts = {w.text for w in words}
    if texts.isdisjoint(AMBIGUOUS):
        return None
    cues = {w.text for j, w in enumerate(words) if j == 0 or words[j - 1].text not in _NEGATIONS}
    for i, word in enumerate(words):
        entry = AMBIGUOUS.get(word.text)
        if entry is None or cues.isdisjoint(entry.cues):
            continue
        if entry.figurative_of and i + 1 < len(words) and words[i + 1].text == "of":
            continue
        return Finding(entry.category, word.start, word.end)
    return None
