"""People's names: the recipient's own, anyone's first name or surname, and clinicians named
beside a title, role or credential.

A word is a name when a names dataset lists it (above a popularity floor) and it is not also a
common word of general English or of the clinic's everyday vocabulary: "Jennifer" and "Okafor"
are names, "grace", "hope", "mark" and "brooks" are words. A common word is still a name where
only a name fits: after a greeting ("Hi Grace"), before a comma at the start ("Grace, your
visit"), or beside a clinician's title or credential ("Nurse Hope", "Mark Lee, RN").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from service.subjects.findings import Finding
from service.subjects.lexicon import Lexicon, data_lines, english_ranks, load_lexicon
from service.subjects.normalise import Token, fold, skeleton, word_tokens

# Popularity floors (the dataset's weight column) below which a listed name is ignored: the
# long tail of a names dataset holds every word someone once typed into a name field.
FIRST_NAME_FLOOR = 1000
LAST_NAME_FLOOR = 1000
# A listed name that is not one of the lexicon's common words (English words ranked within
# lexicon.COMMON_WORD_RANK, other languages' common words, everyday words) reads as a name:
# "Okafor" is in neither list; "Tyrone" is a name, not a word.
FUNCTION_WORD_RANK = 300

_GREETINGS = frozenset(skeleton(w) for w in (
    "hi", "hello", "hey", "dear", "hola", "attn", "attention", "for", "to", "fwd", "re",
    "bonjour", "salaam", "chao", "estimado", "estimada", "querido", "querida", "good",
    "morning", "welcome", "congrats", "congratulations", "thanks", "thank"))
_NOT_NAMES = frozenset(skeleton(w) for w in (
    "you", "your", "yours", "team", "all", "everyone", "everybody", "there", "friend",
    "friends", "neighbor", "neighbors", "neighbour", "folks", "patients", "patient", "family",
    "again", "back", "from", "us", "our", "the", "a", "an", "and", "or", "of", "in", "on",
    "at", "by", "with", "new", "message"))
# Credentials that are also everyday words or abbreviations: a clinician only after a name.
_AMBIGUOUS_CREDENTIALS = frozenset(skeleton(w) for w in (
    "do", "pa", "pt", "od", "ot", "rd", "ma", "ms", "md", "np", "dr", "ccc", "phd"))
# An ambiguous credential with the part that makes it sure ("PA-C" arrives as "pa", "c").
_SURE_PAIRS = frozenset({("pa", "c"), ("fnp", "c"), ("ccc", "sip"), ("np", "c")})
_TITLES = frozenset(skeleton(w) for w in ("dr", "dra", "doctor", "doc", "nurse", "enfermera"))


@dataclass(frozen=True, slots=True)
class Casing:
    """Whether the sender capitalised each word, and whether that tells anything: in sentence
    case a lowercase word is a word ("antes", "kami"), wherever a names dataset lists it; in
    Title Case, ALL CAPS or all lower case every word looks alike."""

    caps: Sequence[bool]
    informative: bool


@dataclass(frozen=True, slots=True)
class Names:
    names: frozenset[str]
    common_words: frozenset[str]
    # The commonest English words ("to", "so", "do"): never a name, whatever precedes them.
    function_words: frozenset[str]

    def is_name(self, token: str, lexicon: Lexicon) -> bool:
        return (len(token) >= 3 and token in self.names and token not in self.common_words
                and token not in lexicon.everyday and token not in _NOT_NAMES)

    def likely_name(self, token: str, lexicon: Lexicon) -> bool:
        """A name that is no common word, or a word in no list at all ("Okonkwo")."""
        return self.is_name(token, lexicon) or (
            len(token) >= 3 and token not in self.names and token not in self.common_words
            and token not in lexicon.everyday and token not in lexicon.terms)

    def could_be_name(self, token: str, lexicon: Lexicon) -> bool:
        """A name, a listed name that is also a word, or a word in no list at all."""
        if len(token) < 2 or token in _NOT_NAMES or token in lexicon.everyday:
            return False
        return token in self.names or token not in self.common_words

    def find(
        self, words: list[Token], text: str, lexicon: Lexicon, casing: Casing,
    ) -> Finding | None:
        """A clinician's or anyone's name; the recipient's own are ``recipient_name``'s."""
        return self._clinician(words, lexicon, casing) or self._person(words, text, lexicon, casing)

    def _clinician(self, words: list[Token], lexicon: Lexicon, casing: Casing) -> Finding | None:
        texts = [w.text for w in words]

        def named(j: int, *, beside_title: bool) -> bool:
            """Whether word j names someone. Capitalised in a sentence-case subject, or beside
            a title or credential, a listed name that is also a word is one ("Dr. Brooks");
            lowercase in a sentence-case subject, nothing is ("24/7 nurse line")."""
            if not 0 <= j < len(texts):
                return False
            if casing.caps[j] and (casing.informative or beside_title):
                return self.could_be_name(texts[j], lexicon)
            if casing.informative:
                return False
            return self.likely_name(texts[j], lexicon)

        for i, token in enumerate(texts):
            if token.startswith(("dr", "dra")) and len(token) > 4 and token not in lexicon.terms:
                rest = token[3:] if token.startswith("dra") else token[2:]
                if rest in self.names and token not in self.common_words:
                    return Finding("clinician", words[i].start, words[i].end)  # "D r . S m i t h"
            if token in _TITLES or texts[i - 1 : i + 1] == ["bac", "si"]:  # Vietnamese "Bác sĩ"
                # "Dr. Okafor", "Nurse Patty": the title goes before the name.
                if named(i + 1, beside_title=True):
                    return Finding("clinician", words[i].start, words[i + 1].end)
                continue
            if token not in lexicon.credentials and token not in _AMBIGUOUS_CREDENTIALS:
                continue
            sure = (token, texts[i + 1] if i + 1 < len(texts) else "") in _SURE_PAIRS
            if token in _AMBIGUOUS_CREDENTIALS and not sure:
                # "Maria Lopez, NP"; "your NP, Lisa": an everyday "do" or "pt" has neither.
                if named(i - 1, beside_title=False) or (
                        named(i + 1, beside_title=False) and i > 0
                        and texts[i - 1] in _POSSESSIVES):
                    return Finding("clinician", words[max(i - 1, 0)].start, words[i].end)
                continue
            # "Ana Ruiz, CNM", "Grace Park, DDS", "your therapist Anna", "Brooks, PA-C".
            if named(i - 1, beside_title=True):
                return Finding("clinician", words[i - 1].start, words[i].end)
            if named(i + 1, beside_title=True):
                return Finding("clinician", words[i].start, words[i + 1].end)
        return None

    def _person(
        self, words: list[Token], text: str, lexicon: Lexicon, casing: Casing
    ) -> Finding | None:
        texts = [w.text for w in words]
        for i, token in enumerate(texts):
            after = text[words[i].end : words[i].end + 3].lstrip(" ")
            greeted = i > 0 and texts[i - 1] in _GREETINGS and (
                i == 1 or texts[i - 2] in ("good", "to"))
            if greeted and after[:1] == "," and token in self.names:
                return Finding("name", words[i].start, words[i].end)  # "Hey Will, confirm"
            if (token in lexicon.everyday or token in _NOT_NAMES
                    or token in self.function_words or len(token) < 3):
                continue
            titled = i > 0 and texts[i - 1] in _PERSON_TITLES
            spaced = text[words[i].end : words[i].end + 3]
            # "Grace, ...", "Grace: ...", "Grace - ..." (a spaced dash: "Hand-washing" is a word).
            addressed = i == 0 and (after[:1] in (",", ":", "!") or spaced[:2] in _SPACED_DASHES)
            possessive = after[:2] in ("'s", "\u2019s") and (
                i == 0 or not casing.informative or casing.caps[i])
            # Where only a name fits, a listed name that is also a word is one ("Hi Grace");
            # so is a word no list knows, greeted or called by ("Hello Nkechi", "Faadumo,
            # please confirm"), but not one before a colon ("Waitlist:", "Lembrete:").
            if (greeted or titled or addressed or possessive) and token in self.names:
                return Finding("name", words[i].start, words[i].end)
            vocative = greeted or titled or (i == 0 and after[:1] == ",")
            if vocative and self.could_be_name(token, lexicon) and token not in lexicon.terms:
                return Finding("name", words[i].start, words[i].end)
            if token not in self.names:
                continue
            if casing.informative and i > 0 and not casing.caps[i]:
                continue  # a lowercase word in a sentence-case subject is a word
            if token not in self.common_words:
                return Finding("name", words[i].start, words[i].end)
        return None


_SPACED_DASHES = (" -", " \u2013", " \u2014")
_POSSESSIVES = frozenset(skeleton(w) for w in ("your", "tu", "su", "our"))
# Titles of anyone: a person's name follows ("Dear Mr. Washington").
_PERSON_TITLES = frozenset(skeleton(w) for w in (
    "mr", "mrs", "ms", "mx", "miss", "sr", "sra", "srta", "mme", "mlle", "herr", "frau"))


def recipient_name(
    words: Sequence[Token], names: Sequence[str], email: str | None
) -> Finding | None:
    """The recipient's own name, or the words of their address, among ``words``."""
    parts = {part for name in names for part in word_tokens(fold(name)) if len(part) >= 2}
    if email:
        local = word_tokens(fold(email.partition("@")[0]))
        parts.update(part for part in local if len(part) >= 4)
    if not parts:
        return None
    for i, word in enumerate(words):
        if word.text in parts:
            return Finding("name", word.start, word.end)
        if i + 1 < len(words) and word.text + words[i + 1].text in parts:
            return Finding("name", word.start, words[i + 1].end)
    return None


@cache
def load_names() -> Names:
    names = set()
    for line in data_lines("names.tsv.gz"):
        name, kind, weight = line.split("\t")
        floor = FIRST_NAME_FLOOR if kind == "first" else LAST_NAME_FLOOR
        if int(weight) >= floor:
            names.add(skeleton(name))
    lexicon = load_lexicon()
    function = frozenset(w for w, rank in english_ranks().items() if rank <= FUNCTION_WORD_RANK)
    return Names(frozenset(names), lexicon.english | lexicon.foreign | lexicon.everyday, function)
