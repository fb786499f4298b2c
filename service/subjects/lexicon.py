"""The sensitive vocabulary, loaded once: terms and phrases with their category (condition,
drug, test, procedure, specialty, social, clinician) in the skeleton alphabet, and a one-edit
deletion index for misspellings (the SymSpell idea: two words are within one edit when they
share a word-with-one-letter-deleted), so matching is a handful of dict lookups a token."""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from service.subjects.ambiguous import AMBIGUOUS
from service.subjects.findings import Finding
from service.subjects.normalise import Token, skeleton
from service.subjects.specific import CONTEXT_WORDS

# Misspellings are matched only on words at least this long: shorter ones sit one edit from
# too many everyday words.
FUZZY_MIN_LENGTH = 6
FUZZY_TWO_EDITS_LENGTH = 10

# Word endings that name a specialty, a condition or a procedure whatever the stem.
# (In the skeleton alphabet, where "l" is "i": "oiogist" is "-ologist".)
SUFFIXES = {
    "oiogist": "specialty", "oiogy": "specialty", "itis": "condition", "ectomy": "procedure",
    "otomy": "procedure", "ostomy": "procedure", "oscopy": "procedure", "opiasty": "procedure",
    "emia": "condition", "oma": "condition", "opathy": "condition", "therapy": "procedure",
    "therapie": "procedure", "terapia": "procedure", "terapie": "procedure",
    "iasis": "condition", "phobia": "condition",
}
_SUFFIX_ENDINGS = tuple(SUFFIXES)
_NOT_LETTERS = re.compile(r"[^a-z]")
# Adjacent fragments are rejoined up to this many ("dia bet es"), to undo split words.
_MAX_JOIN = 3
_FRAGMENT = 4
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
    terms: dict[str, str]  # skeleton term -> category
    phrases: dict[str, str]
    phrase_starts: frozenset[str]
    longest_phrase: int
    deletions: dict[str, str]  # a term with one letter deleted -> the term's category
    # Titles, roles and credentials: alone they name no one, so they are not terms; names.py
    # looks for the name beside them ("Ana Ruiz, CNM"; of a phrase, its last word: "worker").
    credentials: frozenset[str]
    everyday: frozenset[str]
    near_misses: frozenset[str]
    # General English (english_ranks, the commonest COMMON_WORD_RANK): a real word is never
    # read as a misspelt term ("inspection" is two slips from "infection").
    english: frozenset[str]
    # The commonest words of other Latin-script languages: never a drug's brand name, never a
    # misspelling ("Balita", "Zmiana"); their own health words stay terms.
    foreign: frozenset[str]
    # Terms whose skeleton is a common word's ("slt" reads as "sit", "ibs" as "lbs", "iui" as
    # French "lui"): matched only as written, so the common word stays itself.
    as_written: dict[str, str]
    as_written_skeletons: frozenset[str]

    def category_of(self, token: str) -> str | None:
        found = self._category_of(token)
        return None if found == "drug" and token in self.foreign else found

    def _category_of(self, token: str) -> str | None:
        if token in self.everyday:
            return None
        if (found := self.terms.get(token)) is not None:
            return found
        if token in self.english:
            return None  # "green" is not "gren" with a letter doubled, nor "sits" a plural
        collapsed = _collapse_repeats(token)
        if (collapsed != token and len(collapsed) >= 4
                and (found := self.terms.get(collapsed)) is not None):
            return found  # "COPDD", "diabeetes"
        # Singular and plural of a term listed only in one form.
        if token.endswith("s") and token[:-1] not in self.everyday:
            if (found := self.terms.get(token[:-1])) is not None:
                return found
        if len(token) >= FUZZY_MIN_LENGTH and (found := self.terms.get(token + "s")) is not None:
            return found
        if (token.endswith(_SUFFIX_ENDINGS) and token not in SUFFIX_EXCEPTIONS and len(token) > 5
                and token not in self.english):  # "academia" is not an "-emia"
            return next(c for s, c in SUFFIXES.items() if token.endswith(s))
        return None

    def misspelt_category(self, token: str) -> str | None:
        if (len(token) < FUZZY_MIN_LENGTH or token in self.everyday
                or token in self.near_misses or token in self.english
                or token in self.foreign):
            return None
        if (found := self.deletions.get(token)) is not None:
            return found
        variants = {token[:i] + token[i + 1 :] for i in range(len(token))}
        for variant in variants:
            found = self.terms.get(variant) or self.deletions.get(variant)
            if found is not None:
                return found
        if len(token) < FUZZY_TWO_EDITS_LENGTH:
            return None
        # Long words may carry two slips ("chemotherapie"): one more deletion on our side.
        for variant in variants:
            for j in range(len(variant)):
                if (found := self.deletions.get(variant[:j] + variant[j + 1 :])) is not None:
                    return found
        return None

    def find(self, words: list[Token], text: str) -> Finding | None:
        """The first term, phrase, misspelt term or split term among the words (``text``: the
        folded subject they were read from)."""
        texts = [w.text for w in words]
        count = len(texts)
        for i, token in enumerate(texts):
            if token in CONTEXT_WORDS:
                continue  # "results", "prescription": specific.py judges them in context
            if token in self.as_written_skeletons:
                written = _NOT_LETTERS.sub("", text[words[i].start : words[i].end])  # "I B S"
                if (found := self.as_written.get(written)) is not None:
                    return Finding(found, words[i].start, words[i].end)
            found = self.category_of(token) or self.misspelt_category(token)
            if found is not None:
                return Finding(found, words[i].start, words[i].end)
            if token in self.phrase_starts:
                for size in range(min(self.longest_phrase, count - i), 1, -1):
                    found = self.phrases.get(" ".join(texts[i : i + size]))
                    if found is not None:
                        return Finding(found, words[i].start, words[i + size - 1].end)
            # Rejoin a word split into fragments ("dia betes"). The join must spell a term
            # exactly: suffix and misspelling rules on joins would read "visit is" as "-itis".
            if len(token) <= _FRAGMENT and i + 1 < count:
                joined = token
                for size in range(2, min(_MAX_JOIN, count - i) + 1):
                    joined += texts[i + size - 1]
                    if len(joined) >= 5 and (found := self.terms.get(joined)) is not None:
                        return Finding(found, words[i].start, words[i + size - 1].end)
            elif i + 1 < count and len(texts[i + 1]) <= _FRAGMENT:
                if (found := self.terms.get(token + texts[i + 1])) is not None:
                    return Finding(found, words[i].start, words[i + 1].end)
        return None


def _collapse_repeats(token: str) -> str:
    out: list[str] = []
    for ch in token:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def data_lines(name: str) -> list[str]:
    """A data file's non-blank, non-comment lines (gzip-compressed when named .gz)."""
    raw = resources.files("service.subjects").joinpath("data", name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return [line.strip() for line in raw.decode("utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


# English words ranked above this (1 = commonest) count as rare.
COMMON_WORD_RANK = 40000


@cache
def english_ranks() -> dict[str, int]:
    """General English words (skeleton alphabet) and their frequency rank."""
    ranks: dict[str, int] = {}
    for word, rank in english_as_written().items():
        ranks.setdefault(skeleton(word), rank)
    return ranks


@cache
def english_as_written() -> dict[str, int]:
    ranks: dict[str, int] = {}
    for line in data_lines("english.txt.gz"):
        word, _, rank = line.partition("\t")
        ranks[word] = int(rank)
    return ranks


@cache
def foreign_words() -> frozenset[str]:
    return frozenset(map(skeleton, foreign_as_written()))


@cache
def foreign_as_written() -> tuple[str, ...]:
    return tuple(data_lines("foreign_words.txt.gz"))


@cache
def load_lexicon() -> Lexicon:
    terms: dict[str, str] = {}
    phrases: dict[str, str] = {}
    credentials: set[str] = set()
    spelled: dict[str, str] = {}
    common = {w: skeleton(w) for w, rank in english_as_written().items()
              if rank <= COMMON_WORD_RANK}
    common |= {w: skeleton(w) for w in foreign_as_written()}  # "lui", "lop"
    colliding = set(common.values())
    as_written: dict[str, str] = {}
    for entry in data_lines("vocabulary.tsv.gz"):
        category, _, term = entry.partition("\t")
        if " " not in term and term not in common and skeleton(term) in colliding:
            as_written[term] = category
            continue
        words = [skeleton(word) for word in term.split()]
        if category == "clinician":
            if len(words) == 1 or len(words[-1]) >= 4:  # not the "c" of "PA-C"
                credentials.add(words[-1])
        elif len(words) == 1 and (words[0] in CONTEXT_WORDS or words[0] in AMBIGUOUS):
            continue  # "results", "shot": specific.py and ambiguous.py judge them in context
        elif len(words) == 1:
            terms[words[0]] = category
        else:
            phrases[" ".join(words)] = category
            # Spelt out letter by letter, a phrase arrives as one word ("B.e.h.a.v.i.o.r.a.l
            # H.e.a.l.t.h"); long enough, its letters alone are still the phrase (exactly:
            # one edit from a joined phrase is too often another word, "telehealth").
            if len(joined := "".join(words)) >= 10:
                spelled[joined] = category
    deletions = {
        term[:i] + term[i + 1 :]: category
        for term, category in terms.items() if len(term) >= FUZZY_MIN_LENGTH
        for i in range(len(term))
    }
    terms = {**spelled, **terms}
    return Lexicon(
        terms=terms,
        phrases=phrases,
        phrase_starts=frozenset(p.split(" ", 1)[0] for p in phrases),
        longest_phrase=max((p.count(" ") + 1 for p in phrases), default=1),
        deletions=deletions,
        credentials=frozenset(credentials),
        everyday=frozenset(skeleton(w) for w in data_lines("everyday_words.txt"))
        | frozenset(skeleton(w) for line in data_lines("common_words.txt") for w in line.split()),
        near_misses=frozenset(skeleton(w) for w in data_lines("near_misses.txt")),
        english=frozenset(w for w, rank in english_ranks().items() if rank <= COMMON_WORD_RANK),
        foreign=foreign_words(),
        as_written=as_written,
        as_written_skeletons=frozenset(map(skeleton, as_written)),
    )
