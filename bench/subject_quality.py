"""Subject policy quality and speed on the labelled corpora.

Prints, per corpus, the share of sensitive subjects caught and of generic subjects wrongly
rejected, and the throughput (subjects per second in one process, median of 5 runs).
    python bench/subject_quality.py [--show]     (--show lists the misclassified subjects)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.subjects.policy import SubjectPolicy  # noqa: E402

CORPORA = [ROOT / "tests/data/subject_corpus.tsv", ROOT / "tests/data/subject_holdout.tsv"]


def load(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            label, _, subject = line.partition("\t")
            rows.append((label, subject))
    return rows


def score(policy: SubjectPolicy, rows: list[tuple[str, str]]) -> tuple[float, float, list[str]]:
    caught = sensitive = rejected = generic = 0
    wrong = []
    for label, subject in rows:
        ok = policy.check(subject).ok
        if label == "sensitive":
            sensitive += 1
            caught += not ok
            if ok:
                wrong.append(f"missed   {subject!r}")
        else:
            generic += 1
            rejected += not ok
            if not ok:
                wrong.append(f"rejected {subject!r} ({policy.check(subject).category})")
    return caught / sensitive, rejected / generic, wrong


def throughput(policy: SubjectPolicy, subjects: list[str], n: int = 20000) -> float:
    batch = (subjects * (n // len(subjects) + 1))[:n]
    rates = []
    for _ in range(5):
        started = time.perf_counter()
        for subject in batch:
            policy.check(subject)
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    policy = SubjectPolicy(allowed_phrases=("Riverside Clinic",))
    print(f"lexicon loaded in {time.perf_counter() - started:.2f}s")
    everything: list[str] = []
    for path in CORPORA:
        if not path.exists():
            continue
        rows = load(path)
        everything += [s for _, s in rows]
        catch, false_reject, wrong = score(policy, rows)
        labels = [label for label, _ in rows]
        counts = f"{labels.count('sensitive')} sensitive, {labels.count('generic')} generic"
        print(f"{path.name}: {counts}")
        print(f"  caught {catch:.1%} of sensitive (target >= 99%), "
              f"wrongly rejected {false_reject:.1%} of generic (target <= 2%)")
        if args.show:
            for line in wrong:
                print("   ", line)
    print(f"throughput: {throughput(policy, everything):,.0f} subjects/s (target >= 20,000)")


if __name__ == "__main__":
    main()
