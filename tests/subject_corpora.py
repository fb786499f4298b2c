"""The labelled subject corpora and their scoring, shared by the policy's tests and
bench/subject_quality.py.

``subject_eval/subjects.tsv`` was written by four writers who never saw the detector, split once
into ``dev`` (tuning) and ``test`` (measurement only: never list its misses while tuning).
``subject_eval/dev_writer_*.tsv`` were written after the split by three more writers, also blind
to the detector, as development data only. The two older corpora were tuned on and are kept as
regression sets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data"
EVAL = DATA / "subject_eval"
OLDER = ("subject_corpus.tsv", "subject_holdout.tsv")


@dataclass(frozen=True, slots=True)
class Row:
    label: str  # sensitive or generic
    category: str
    subject: str
    writer: str = "older"
    obfuscated: bool = False
    practices: tuple[str, ...] = ()

    @property
    def sensitive(self) -> bool:
        return self.label == "sensitive"


def eval_rows(split: str) -> list[Row]:
    practices: dict[str, list[str]] = defaultdict(list)
    for line in (EVAL / "practices.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        writer, name = line.split("\t")
        practices[writer].append(name)
    rows = []
    for line in (EVAL / "subjects.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        half, writer, label, category, obfuscated, subject = line.split("\t")
        if half == split:
            rows.append(Row(label, category, subject, writer, obfuscated == "1",
                            tuple(practices[writer])))
    if split == "dev":
        for path in sorted(EVAL.glob("dev_writer_*.tsv")):
            rows += _writer_rows(path)
    return rows


def _writer_rows(path: Path) -> list[Row]:
    """A writer's own file: ``# practice:`` lines, a header, then label, category, obfuscated
    and subject."""
    writer = path.stem.removeprefix("dev_writer_")
    lines = path.read_text(encoding="utf-8").splitlines()
    practices = tuple(line.partition(":")[2].strip() for line in lines
                      if line.startswith("# practice:"))
    rows = []
    for line in lines:
        if line and not line.startswith(("#", "label\t")):
            label, category, obfuscated, subject = line.split("\t")
            rows.append(Row(label, category, subject, writer, obfuscated == "1", practices))
    return rows


def older_rows(name: str) -> list[Row]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, _, subject = line.partition("\t")
            rows.append(Row(label, "older", subject))
    return rows


@dataclass
class Tally:
    total: int = 0
    right: int = 0

    @property
    def rate(self) -> float:
        return self.right / self.total if self.total else 1.0


@dataclass
class Score:
    caught: Tally = field(default_factory=Tally)  # sensitive rows refused
    rejected: Tally = field(default_factory=Tally)  # generic rows refused (right = refused)
    # (label, category): for sensitive rows right means refused, for generic rows passed.
    by_category: dict[tuple[str, str], Tally] = field(
        default_factory=lambda: defaultdict(Tally))
    by_writer: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    obfuscated: Tally = field(default_factory=Tally)
    misses: list[tuple[Row, str | None]] = field(default_factory=list)

    @property
    def weakest(self) -> tuple[str, float]:
        """The sensitive category caught least often."""
        return min(((c, t.rate) for (label, c), t in self.by_category.items()
                    if label == "sensitive"), key=lambda item: item[1])


def score(rows: Iterable[Row], refused: Callable[[Row], str | None]) -> Score:
    """``refused`` gives the category the policy refused a row with, or None."""
    result = Score()
    for row in rows:
        verdict = refused(row)
        right = (verdict is not None) is row.sensitive
        result.by_category[(row.label, row.category)].total += 1
        result.by_category[(row.label, row.category)].right += right
        if row.sensitive:
            tally = result.caught
            result.by_writer[row.writer].total += 1
            result.by_writer[row.writer].right += right
            if row.obfuscated:
                result.obfuscated.total += 1
                result.obfuscated.right += right
        else:
            tally = result.rejected
        tally.total += 1
        tally.right += verdict is not None
        if not right:
            result.misses.append((row, verdict))
    return result
