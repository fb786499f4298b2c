"""Builds service/subjects/data/foreign_words.txt.gz: the commonest words of the other
Latin-script languages US clinics write subjects in, so that "cita", "Balita" or "Zmiana" is not
read as a person's name or a drug's brand name.

Source: wordfreq 3.1 (`pip install -e '.[lexicon]'`), its top 5,000 words of Spanish,
Portuguese, French, Vietnamese, Filipino, Polish, German and Italian; its data is CC BY-SA 4.0
(licenses/CC-BY-SA-4.0.txt; attribution in NOTICE.md). Kept: words of three or more letters,
folded as the detector folds them, that are not English words (english.txt.gz covers those) and
are not a sensitive term of any category but drug in vocabulary.tsv.gz ("diabetes", "cancer",
"embarazo" stay terms whatever language they are common in), nor a common given name or
surname in names.tsv.gz ("maria", "nguyen", "garcia": a word list must not hide a person).
Run after build_subject_lexicon.py and build_name_lists.py:
    python scripts/build_foreign_words.py
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wordfreq import top_n_list  # noqa: E402

from service.subjects.lexicon import data_lines, english_ranks  # noqa: E402
from service.subjects.normalise import fold, skeleton  # noqa: E402
from service.subjects.specific import CONTEXT_WORDS  # noqa: E402

LANGUAGES = ("es", "pt", "fr", "vi", "fil", "pl", "de", "it")
PER_LANGUAGE = 5000
GIVEN_NAME_FLOOR = 5000
SURNAME_FLOOR = 20000
DATA = ROOT / "service" / "subjects" / "data"


def main() -> None:
    sensitive = set()
    for line in data_lines("vocabulary.tsv.gz"):
        category, _, term = line.partition("\t")
        if category != "drug":
            sensitive.update(skeleton(word) for word in term.split())
    for line in data_lines("names.tsv.gz"):
        name, kind, weight = line.split("\t")
        if int(weight) >= (GIVEN_NAME_FLOOR if kind == "first" else SURNAME_FLOOR):
            sensitive.add(skeleton(name))
    english = english_ranks()
    words = set()
    for language in LANGUAGES:
        for word in top_n_list(language, PER_LANGUAGE):
            folded = fold(word)
            if len(folded) < 3 or not folded.isascii() or not folded.isalpha():
                continue
            key = skeleton(folded)
            if key in english or key in sensitive or key in CONTEXT_WORDS:
                continue
            words.add(folded)
    header = ("# Common words of other Latin-script languages (wordfreq 3.1, CC BY-SA 4.0), built "
              "by scripts/build_foreign_words.py; do not edit by hand.\n")
    body = header + "\n".join(sorted(words)) + "\n"
    with gzip.GzipFile(DATA / "foreign_words.txt.gz", "wb", mtime=0) as out:
        out.write(body.encode())
    print(f"{len(words)} words from {', '.join(LANGUAGES)}")


if __name__ == "__main__":
    main()
