"""Subjects more specific than a visit: results, prescriptions, refills, referrals, prior
authorizations, procedures and their preparation, even when nothing is named ("Your lab results
are now available", "Your prescription is ready"). Such notices go out as "You have a new secure
message".

The same words have everyday uses that stay allowed ("Patient survey results", "Test email -
please disregard", "A dose of good news", "Prescription for fun: summer picnic", "Refill your
coffee"), so each word comes with the frames that make it personal or figurative. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Set

from service.subjects.findings import Finding
from service.subjects.normalise import Token, skeleton

_FINDING = "more-specific-than-a-visit"

_WORDS = {
    "result": "result results resultado resultados resultat resultats rezilta wyniki matokeo "
              "natiijada natiijooyinka natiijooyinkaaga",
    "test": "test tests testing tested prueba pruebas",
    "medication": "prescription prescriptions perscription rx receta recetas receita receitas "
                  "medication "
                  "medications meds medicine medicines medicamento medicamentos",
    "refill": "refill refills refil resurtido",
    "always": "referral referrals referal referido referidos preop postop preauthorization "
              "preauth procedure surgery surgeries procedimiento cirugia bloodwork fasting "
              "ayuno ayunas aftercare discharge abnormal specimen specimens",
    "plural": "procedures",
    "lab": "lab labs laboratorio shaybaar shaybaarka",
    "dose": "dose doses dosing dosage dosis",
    "screening": "screening screenings",
    "diagnosis": "diagnosis diagnosed diagnostico",
    "pharmacy": "pharmacy farmacia",
    "treatment": "treatment treatments tratamiento",
    "positive": "positive negative positivo negativo",
}
KINDS = {skeleton(word): kind for kind, words in _WORDS.items() for word in words.split()}
# Words whose meaning depends on the frame: the vocabulary's entries for them are not used.
CONTEXT_WORDS = frozenset(KINDS)

_PHRASES = tuple(tuple(skeleton(w) for w in phrase.split()) for phrase in (
    "prior auth", "prior authorization", "pre authorization", "pre op", "post op",
    "nothing after midnight", "nothing to eat", "came back", "blood work", "autorizacion previa",
    "pre auth", "day supply", "numbers are back", "ket qua xet nghiem", "giay gioi thieu",
))


def _words(*words: str) -> frozenset[str]:
    return frozenset(skeleton(w) for w in words)


_PERSONAL = _words("your", "you", "su", "sus", "tu", "tus", "my", "new", "latest", "recent")
_READY = _words("ready", "available", "posted", "in", "back", "listo", "lista", "listos",
                "listas", "disponible", "disponibles", "due", "approved", "received", "sent",
                "pickup", "pick", "renewal", "change", "changed", "update", "request")
# Whose results or tests are meant: a contest's, a survey's, the clinic's own. Anywhere in the
# subject ("Results are in: costume contest winners"), or, for the vaguer ones, just before.
_CONTESTS = _words(
    "survey", "surveys", "contest", "contests", "election", "vote", "voting", "voted", "poll",
    "raffle", "competition", "trivia", "game", "games", "encuesta", "award", "awards",
    "fundraiser", "winner", "winners", "bake", "cook", "tournament", "sweepstakes", "sondaj",
    "sondage", "ankiety", "ankieta", "pesquisa", "encuestas", "utafiti", "sahan", "sahanka",
    "goal", "goals", "charity", "race", "walk", "team",
    "fundraising")
_FIGURATIVE_OWNERS = _CONTESTS | _words(
    "drive", "off", "challenge", "staff", "our", "annual", "report", "pie", "week", "the",
    "campaign")
_EVERYDAY_TESTS = _words("email", "emails", "message", "messages", "run", "send", "only",
                         "please", "do", "ignore", "disregard", "correo", "mensaje", "our",
                         "new", "system")
_EVERYDAY_AFTER_DOSE = _words("of", "de", "da", "di")  # "a dose of", "une dose de"
_SITE_WORDS = _words("hours", "hour", "closed", "closure", "closing", "location", "moving",
                     "moved", "holiday", "horario", "open", "opening", "coat", "coats", "week")
_MEDICAL_OBJECTS = CONTEXT_WORDS
_RESULTS = _words("result", "results")
# Refills of something else: "Free coffee refills".
_EVERYDAY_REFILLS = _words("coffee", "free", "drink", "drinks", "soda", "tea", "water", "ink")
# Where medicine is kept, not taken: "Spring cleaning for your medicine cabinet".
_MEDICINE_PLACES = _words("cabinet", "cabinets", "chest", "drawer", "drop", "disposal")


def _before(texts: list[str], i: int, n: int = 3) -> list[str]:
    return texts[max(0, i - n) : i]


def _result(texts: list[str], i: int) -> bool:
    if set(_before(texts, i)) & _FIGURATIVE_OWNERS or not _CONTESTS.isdisjoint(texts):
        return False
    return not (i + 2 < len(texts) and texts[i + 1] in ("of", "from")
                and texts[i + 2] in ("our", "the", "this", "last"))


def _test(texts: list[str], i: int) -> bool:
    after = texts[i + 1] if i + 1 < len(texts) else ""
    if after in _EVERYDAY_TESTS or (i > 0 and texts[i - 1] in ("the", "a")):
        return False
    personal = i > 0 and texts[i - 1] in _PERSONAL
    return personal or after in ("result", "results", "kit", "due", "positive",
                                 "negative", "for", "resuit", "resuits")


_RECIPES = _words("receta", "recetas", "receita", "receitas")
_OF = _words("de", "del", "da", "do")
# A practice's kind, not anyone's medicine: "Oak Hill Family Medicine".
_GENERAL_MEDICINE = _words("family", "internal", "general", "preventive", "lifestyle",
                           "community", "primary")


def _medication(texts: list[str], i: int) -> bool:
    before = texts[i - 1] if i > 0 else ""
    after = texts[i + 1] if i + 1 < len(texts) else ""
    if texts[i] == "medicine" and before in _GENERAL_MEDICINE:
        return False
    if after in _MEDICINE_PLACES:
        return False
    if texts[i] in _RECIPES and after in _OF:
        return False  # "receta de temporada": a recipe
    if before in ("our", "best", "the", "a") or (after == "for" and before not in _PERSONAL):
        return texts[i] in (skeleton("rx"),)
    return True


def _refill(texts: list[str], i: int) -> bool:
    if i > 0 and texts[i - 1] in _EVERYDAY_REFILLS:
        return False
    if i + 2 < len(texts) and texts[i + 1] in ("your", "our", "a"):
        return texts[i + 2] in _MEDICAL_OBJECTS
    return True


def _plural(texts: list[str], i: int) -> bool:
    return i > 0 and texts[i - 1] in _PERSONAL


def _lab(texts: list[str], i: int) -> bool:
    return not (i + 1 < len(texts) and texts[i + 1] in _SITE_WORDS)


def _dose(texts: list[str], i: int) -> bool:
    after = texts[i + 1] if i + 1 < len(texts) else ""
    return after not in _EVERYDAY_AFTER_DOSE


def _screening(texts: list[str], i: int) -> bool:
    before = texts[i - 1] if i > 0 else ""
    after = texts[i + 1] if i + 1 < len(texts) else ""
    # Not "in": "Movie screening in the atrium".
    return before in _PERSONAL or (after in _READY and after != "in") or after in _RESULTS


def _diagnosis(texts: list[str], i: int) -> bool:
    return not (i > 0 and texts[i - 1] in ("our", "the"))


def _positive(texts: list[str], i: int) -> bool:
    before = texts[i - 1] if i > 0 else ""
    after = texts[i + 1] if i + 1 < len(texts) else ""
    return before in (skeleton("tested"), "test", "testing", skeleton("result")) or after in (
        skeleton("result"), skeleton("results"), "test")


_RULES: dict[str, Callable[[list[str], int], bool]] = {
    "result": _result, "test": _test, "medication": _medication, "refill": _refill,
    "always": lambda texts, i: True, "plural": _plural, "lab": _lab, "dose": _dose,
    "screening": _screening, "diagnosis": _diagnosis, "pharmacy": _lab,
    "treatment": lambda texts, i: texts[i + 1 : i + 2] != ["of"],  # "Treatment of your data"
    "positive": _positive,
}


_PHRASE_STARTS = frozenset(phrase[0] for phrase in _PHRASES)


# A letter dropped from a longer such word ("rfill ready 4 pickup", "perscripton").
_DROPPED = {w[:i] + w[i + 1 :]: kind for w, kind in KINDS.items() if len(w) >= 6
            for i in range(len(w))}


def more_specific_than_a_visit(words: list[Token], english: Set[str]) -> Finding | None:
    """``english``: common words, which are never read as one of ours with a letter dropped
    ("doing" is not "dosing")."""
    texts = [w.text for w in words]
    for i, token in enumerate(texts):
        kind = KINDS.get(token)
        if kind is None and len(token) >= 5 and token not in english:
            kind = _DROPPED.get(token)
        if kind is not None and _RULES[kind](texts, i):
            return Finding(_FINDING, words[i].start, words[i].end)
        if token not in _PHRASE_STARTS:
            continue
        for phrase in _PHRASES:
            if tuple(texts[i : i + len(phrase)]) == phrase:
                return Finding(_FINDING, words[i].start, words[i + len(phrase) - 1].end)
    return None
