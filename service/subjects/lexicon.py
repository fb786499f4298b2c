"""The health vocabulary, loaded once: term and phrase sets in the skeleton alphabet, and a
one-edit deletion index for misspellings (the SymSpell idea: two words are within one edit when
they share a word-with-one-letter-deleted), so matching is a handful of set lookups a token."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources

from service.subjects.normalise import skeleton

# Misspellings are matched only on words at least this long: shorter ones sit one edit from
# too many everyday words.
FUZZY_MIN_LENGTH = 6
FUZZY_TWO_EDITS_LENGTH = 10

# Word endings that name a specialty, a condition or a procedure whatever the stem.
# (In the skeleton alphabet, where "l" is "i": "oiogist" is "-ologist".)
SUFFIXES = ("oiogist", "oiogy", "itis", "ectomy", "otomy", "ostomy", "oscopy", "opiasty", "emia",
            "oma", "opathy", "therapy", "iasis", "phobia")
SUFFIX_EXCEPTIONS = frozenset(skeleton(w) for w in (
    "diploma", "aroma", "sonoma", "tacoma", "oklahoma", "paloma", "stroma", "idioma", "soma",
    "technologist", "biologist", "ecologist", "geologist", "sociologist", "theologist",
    "anthropologist", "archaeologist", "zoologist", "meteorologist", "mixologist", "apologist",
    "cosmetologist", "ideologist", "futurologist", "climatologist", "criminologist",
    "musicologist", "paleontologist", "astrologist", "entomologist", "seismologist",
    "epistemologist", "genealogist", "petrologist", "mythologist", "lexicologist",
    "coma", "homa", "kokoma", "loma", "roma", "toma", "yokohama",
    "technology", "biology", "ecology", "geology", "sociology", "theology", "anthropology",
    "archaeology", "archeology", "zoology", "meteorology", "methodology", "terminology",
    "chronology", "ideology", "mythology", "astrology", "ontology", "typology", "topology",
    "etymology", "criminology", "musicology", "cosmetology", "seismology", "genealogy",
    "analogy", "apology", "trilogy", "anthology", "eulogy", "tautology", "doxology",
    "hydrology", "ufology", "scientology", "numerology", "volcanology", "phonology",
    "morphology", "epistemology", "escatology", "egyptology", "gerontology", "climatology",
    "nanotechnology", "biotechnology", "paleontology",
    "entomology", "ornithology", "herpetology", "mineralogy", "petrology", "penology",
    "futurology", "mixology", "sexology", "campanology", "enology", "oenology",
))


@dataclass(frozen=True, slots=True)
class Lexicon:
    terms: frozenset[str]
    phrases: frozenset[str]
    phrase_starts: frozenset[str]
    longest_phrase: int
    deletions: frozenset[str]
    everyday: frozenset[str]
    near_misses: frozenset[str]

    def is_term(self, token: str) -> bool:
        if token in self.everyday:
            return False
        if token in self.terms:
            return True
        collapsed = _collapse_repeats(token)
        if collapsed != token and collapsed in self.terms:
            return True  # "COPDD", "diabeetes"
        # Singular and plural of a term listed only in one form.
        if token.endswith("s") and token[:-1] in self.terms and token[:-1] not in self.everyday:
            return True
        if len(token) >= FUZZY_MIN_LENGTH and token + "s" in self.terms:
            return True
        return token.endswith(SUFFIXES) and token not in SUFFIX_EXCEPTIONS and len(token) > 5

    def is_misspelt_term(self, token: str) -> bool:
        if (len(token) < FUZZY_MIN_LENGTH or token in self.everyday
                or token in self.near_misses):
            return False
        if token in self.deletions:
            return True
        variants = {token[:i] + token[i + 1 :] for i in range(len(token))}
        if not variants.isdisjoint(self.terms) or not variants.isdisjoint(self.deletions):
            return True
        if len(token) < FUZZY_TWO_EDITS_LENGTH:
            return False
        # Long words may carry two slips ("chemotherapie"): one more deletion on our side.
        return any(
            variant[:j] + variant[j + 1 :] in self.deletions
            for variant in variants for j in range(len(variant))
        )


def _collapse_repeats(token: str) -> str:
    out: list[str] = []
    for ch in token:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def _lines(name: str) -> list[str]:
    raw = resources.files("service.subjects").joinpath("data", name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return [line.strip() for line in raw.decode().splitlines() if line.strip()]


@cache
def load_lexicon() -> Lexicon:
    terms: set[str] = set()
    phrases: set[str] = set()
    for entry in _lines("health_terms.txt.gz"):
        words = [skeleton(word) for word in entry.split()]
        if len(words) == 1:
            terms.add(words[0])
        else:
            phrases.add(" ".join(words))
    deletions = {
        term[:i] + term[i + 1 :]
        for term in terms if len(term) >= FUZZY_MIN_LENGTH
        for i in range(len(term))
    }
    return Lexicon(
        terms=frozenset(terms),
        phrases=frozenset(phrases),
        phrase_starts=frozenset(p.split(" ", 1)[0] for p in phrases),
        longest_phrase=max((p.count(" ") + 1 for p in phrases), default=1),
        deletions=frozenset(deletions),
        everyday=frozenset(skeleton(w) for w in _lines("everyday_words.txt")),
        near_misses=frozenset(skeleton(w) for w in _lines("near_misses.txt")),
    )
