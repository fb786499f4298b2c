"""Builds service/subjects/data/health_terms.txt.gz, the subject policy's vocabulary.

Sources (pip install -e '.[lexicon]'):
  - ICD-10-CM descriptions (simple-icd-10-cm), chapters A-T only: the external-cause (V-Y) and
    health-status (Z) chapters are mostly everyday words ("pedestrian", "balcony", "encounter");
  - drug names, generic and brand (drug-named-entity-recognition);
  - scripts/lexicon/curated_health.txt: specialties, tests, procedures, programs, and conditions
    too common in English for a frequency filter to keep.
A generated word is kept only when it is distinctive: rare in general English (wordfreq Zipf
below a threshold) and not on scripts/lexicon/everyday_words.txt. The same everyday list ships
with the service so that no curated everyday word can ever trigger.

Also writes service/subjects/data/near_misses.txt: common English words one edit away from a
term (e.g. "cancel" ~ "cancer"), which the misspelling matcher must never flag.
Run: python scripts/build_subject_lexicon.py
"""

from __future__ import annotations

import bz2
import gzip
import os
import pickle
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import drug_named_entity_recognition  # noqa: E402
import simple_icd_10_cm as icd  # noqa: E402
from wordfreq import top_n_list, zipf_frequency  # noqa: E402

from service.subjects.normalise import skeleton  # noqa: E402

DATA = ROOT / "service" / "subjects" / "data"
SOURCES = ROOT / "scripts" / "lexicon"
WORD = re.compile(r"^[a-z]{4,}$")
# Words this rare in general English are medical jargon when they come from ICD or drug lists.
ICD_MAX_ZIPF = 3.0
DRUG_MAX_ZIPF = 2.5
ICD_BAND_MAX_ZIPF = 4.6
ICD_MIN_RATIO = 5.0


def read_list(path: Path, *, words_per_line: bool = False) -> list[str]:
    lines = [line.split("#", 1)[0].strip().lower() for line in path.read_text().splitlines()]
    if words_per_line:
        return [word for line in lines for word in line.split()]
    return [line for line in lines if line]


def icd_words() -> set[str]:
    """Rare words of the disease chapters, plus commoner ones that ICD uses far more than
    English does (over-represented at least ICD_MIN_RATIO times): "aneurysm", "diabetes"."""
    counts: dict[str, int] = {}
    for code in icd.get_all_codes(with_dots=False):
        if code[:1] in "VWXYZ" or not code[:1].isalpha():
            continue
        for word in set(re.findall(r"[a-z]+", icd.get_description(code).lower())):
            if WORD.match(word):
                counts[word] = counts.get(word, 0) + 1
    words: set[str] = set()
    for word, count in counts.items():
        zipf = zipf_frequency(word, "en")
        over_represented = count / 10 ** (zipf - 3) >= ICD_MIN_RATIO
        if zipf < ICD_MAX_ZIPF or (zipf < ICD_BAND_MAX_ZIPF and over_represented):
            words.add(word)
    return words


def drug_names() -> set[str]:
    path = Path(drug_named_entity_recognition.__file__).parent / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(path) as handle:
        variants = pickle.load(handle)["drug_variant_to_canonical"]  # noqa: S301 - packaged data
    names: set[str] = set()
    for name in variants:
        name = name.lower().strip()
        if WORD.match(name) and zipf_frequency(name, "en") < DRUG_MAX_ZIPF:
            names.add(name)
    return names


def deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def near_misses(terms: set[str], everyday: set[str]) -> set[str]:
    """Common words within one edit of a (long) term, that are not terms themselves."""
    long_terms = {skeleton(t) for t in terms if " " not in t and len(t) >= 6}
    index: dict[str, set[str]] = {}
    for term in long_terms:
        for variant in deletions(term) | {term}:
            index.setdefault(variant, set()).add(term)
    skeleton_terms = {skeleton(t) for t in terms}
    misses = set()
    for word in top_n_list("en", 60000):
        if not WORD.match(word) or len(word) < 5:
            continue
        key = skeleton(word)
        if key in skeleton_terms:
            continue
        if any(v in index for v in deletions(key) | {key}):
            misses.add(word)
    return misses - {t for t in terms}


def main() -> None:
    everyday = set(read_list(SOURCES / "everyday_words.txt", words_per_line=True))
    curated = set(read_list(SOURCES / "curated_health.txt"))
    generated = (icd_words() | drug_names()) - everyday
    terms = sorted(curated | generated)
    DATA.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(DATA / "health_terms.txt.gz", "wb", mtime=0) as out:
        out.write(("\n".join(terms) + "\n").encode())
    (DATA / "everyday_words.txt").write_text("\n".join(sorted(everyday)) + "\n")
    misses = sorted(near_misses(set(terms), everyday))
    (DATA / "near_misses.txt").write_text("\n".join(misses) + "\n")
    size = os.path.getsize(DATA / "health_terms.txt.gz")
    print(f"{len(terms)} terms ({len(curated)} curated, {len(generated)} generated), "
          f"{size // 1024} KiB; {len(misses)} near-miss everyday words")


if __name__ == "__main__":
    main()
