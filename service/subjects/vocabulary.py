"""The strict mode's general vocabulary (``SUBJECT_MODE=strict``): every word of a subject must
be on a curated list of the words generic clinic subjects use, so an unknown proper noun, a
coinage or a word no list foresaw fails closed instead of passing."""

from __future__ import annotations

from functools import cache

from service.subjects.findings import Finding
from service.subjects.lexicon import data_lines
from service.subjects.normalise import Token, skeleton


@cache
def strict_vocabulary() -> frozenset[str]:
    return frozenset(skeleton(word) for word in data_lines("strict_vocabulary.txt"))


def unknown_word(words: list[Token]) -> Finding | None:
    known = strict_vocabulary()
    for word in words:
        if word.text not in known:
            return Finding("unknown-word", word.start, word.end)
    return None
