"""Joins the writers' subject files into tests/data/subject_eval/subjects.tsv and splits them,
once, into a development and a test half.

Run once, when the corpus was written (2026-12-07); it is kept to show how the split was made,
not to be re-run: re-splitting would let test rows leak into tuning. Within each writer, label
and category, rows are ordered by the SHA-256 of their subject and dealt alternately to dev and
test, so each half has every writer and category in the same proportions and no choice of ours
decided which row went where.
    python scripts/split_subject_eval.py writer_a.tsv writer_b.tsv ...
"""

from __future__ import annotations

import hashlib
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "tests" / "data" / "subject_eval"


def main(names: list[str]) -> None:
    groups: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    practices: list[str] = []
    for name in names:
        writer = Path(name).stem.removeprefix("writer_")
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("# practice:"):
                practices.append(f"{writer}\t{line.partition(':')[2].strip()}")
            elif line and not line.startswith("#") and not line.startswith("label\t"):
                label, category, obfuscated, subject = line.split("\t")
                groups[(writer, label, category)].append((obfuscated, subject))
    rows = []
    for (writer, label, category), members in sorted(groups.items()):
        members.sort(key=lambda m: hashlib.sha256(m[1].encode()).hexdigest())
        for i, (obfuscated, subject) in enumerate(members):
            half = "dev" if i % 2 == 0 else "test"
            rows.append(f"{half}\t{writer}\t{label}\t{category}\t{obfuscated}\t{subject}")
    header = "split\twriter\tlabel\tcategory\tobfuscated\tsubject"
    (HERE / "subjects.tsv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    (HERE / "practices.tsv").write_text("writer\tpractice\n" + "\n".join(practices) + "\n",
                                        encoding="utf-8")
    print(f"{len(rows)} rows, {sum(r.startswith('dev') for r in rows)} dev")


if __name__ == "__main__":
    main(sys.argv[1:])
