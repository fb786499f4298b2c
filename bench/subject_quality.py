"""Subject policy quality and speed on the labelled corpora.

For the evaluation corpus (four independent writers, tests/data/subject_eval) it prints the
development and the test half apart: the share of sensitive subjects caught, overall, per
category, per writer and among obfuscated ones, and the share of generic subjects wrongly
refused, per kind. Then the same two figures for the older corpora, the strict mode's figures,
and the throughput (subjects per second in one process, median of 5 runs), for subjects read
for the first time and for those the policy already kept.
    python bench/subject_quality.py [--show]
--show lists the development half's mistakes (and the older corpora's). The test half's are
never listed: it is for measuring, and a list of its misses would turn it into tuning data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.subjects.policy import _KEPT, SubjectPolicy  # noqa: E402
from tests.subject_corpora import OLDER, Row, Score, eval_rows, older_rows, score  # noqa: E402

TARGET_CAUGHT = 0.99
TARGET_REJECTED = 0.02
TARGET_CATEGORY = 0.95


def judge(policy: SubjectPolicy, strict: bool = False) -> Callable[[Row], str | None]:
    def refused(row: Row) -> str | None:
        verdict = policy.check(row.subject, practice_names=row.practices, strict=strict)
        return None if verdict.ok else verdict.category
    return refused


def report(name: str, result: Score, *, detail: bool, show: bool) -> None:
    caught, rejected = result.caught, result.rejected
    print(f"{name}: {caught.total} sensitive, {rejected.total} generic")
    print(f"  caught {caught.rate:.1%} of sensitive (target >= {TARGET_CAUGHT:.0%}), "
          f"wrongly refused {rejected.rate:.1%} of generic (target <= {TARGET_REJECTED:.0%})")
    if detail:
        worst, rate = result.weakest
        print(f"  weakest category {worst} {rate:.1%} (target >= {TARGET_CATEGORY:.0%}); "
              f"obfuscated caught {result.obfuscated.rate:.1%} of {result.obfuscated.total}")
        for (label, category), tally in sorted(result.by_category.items()):
            shown = tally.rate if label == "sensitive" else 1 - tally.rate
            verb = "caught" if label == "sensitive" else "refused"
            print(f"    {label:9} {category:10} {verb} {shown:6.1%} of {tally.total}")
        writers = ", ".join(f"{w} {t.rate:.1%}" for w, t in sorted(result.by_writer.items()))
        print(f"  caught per writer: {writers}")
    if show:
        for row, verdict in result.misses:
            what = f"refused as {verdict}" if verdict else "missed"
            print(f"    {what:32} [{row.category}/{row.writer}] {row.subject!r}")


def throughput(subjects: list[str], *, kept: bool) -> float:
    """Subjects a second in one process, median of 5 runs, each run with a policy of its own:
    every subject read for the first time, or (``kept``) read once before, as a clinic's
    repeated subjects are at their next send."""
    rates = []
    for _ in range(5):
        policy = SubjectPolicy(allowed_phrases=("Riverside Clinic",))
        if kept:
            for subject in subjects:
                policy.check(subject, keep=True)
        started = time.perf_counter()
        for subject in subjects:
            policy.check(subject, keep=kept)
        rates.append(len(subjects) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    policy = SubjectPolicy(allowed_phrases=("Riverside Clinic",))
    print(f"lexicon loaded in {time.perf_counter() - started:.2f}s")
    dev, test = eval_rows("dev"), eval_rows("test")
    report("evaluation corpus, development half", score(dev, judge(policy)), detail=True,
           show=args.show)
    report("evaluation corpus, TEST half", score(test, judge(policy)), detail=True, show=False)
    older: list[Row] = []
    for name in OLDER:
        rows = older_rows(name)
        older += rows
        report(name, score(rows, judge(policy)), detail=False, show=args.show)
    strict = score(test, judge(policy, strict=True))
    print(f"strict mode, test half: caught {strict.caught.rate:.1%}, "
          f"wrongly refused {strict.rejected.rate:.1%} of generic")
    # Each once: a repeat would be read faster the second time only if it were kept.
    subjects = list(dict.fromkeys(row.subject for row in [*dev, *test, *older]))
    print(f"throughput: {throughput(subjects, kept=False):,.0f} subjects/s read for the first "
          f"time (target >= 20,000)")
    # No more than the policy keeps: a cycle through more would find none of them kept.
    passed = [subject for subject in subjects if policy.check(subject).ok][:_KEPT]
    print(f"throughput: {throughput(passed, kept=True):,.0f} subjects/s of the {len(passed):,} "
          f"that pass, each already kept by the policy")


if __name__ == "__main__":
    main()
