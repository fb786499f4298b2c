"""The subject policy measured on subjects written by people who never saw it: the untouched
test half of the evaluation corpus, the development data, and the older corpora. The figures
are bench/subject_quality.py's; this keeps them from sliding back. A failure prints figures
only, never a test-half subject (that would make it tuning data)."""

from __future__ import annotations

import pytest

from service.subjects.policy import SubjectPolicy
from tests.subject_corpora import OLDER, Row, Score, eval_rows, older_rows, score

POLICY = SubjectPolicy(allowed_phrases=("Riverside Clinic",))

CAUGHT = 0.99
WRONGLY_REFUSED = 0.02
CATEGORY_CAUGHT = 0.95


def measure(rows: list[Row]) -> Score:
    def refused(row: Row) -> str | None:
        verdict = POLICY.check(row.subject, practice_names=row.practices)
        return None if verdict.ok else verdict.category
    return score(rows, refused)


def figures(result: Score) -> str:
    categories = ", ".join(f"{c} {t.rate:.1%}" for (label, c), t in
                           sorted(result.by_category.items()) if label == "sensitive")
    return (f"caught {result.caught.rate:.1%}, wrongly refused {result.rejected.rate:.1%}; "
            f"{categories}")


def test_the_test_half_is_untouched_and_large_enough() -> None:
    rows = eval_rows("test")
    assert len(rows) >= 500
    assert {row.writer for row in rows} == {"a", "b", "c", "d"}
    sensitive_categories = {row.category for row in rows if row.sensitive}
    assert len(sensitive_categories) == 13


def test_the_test_half_meets_the_targets() -> None:
    result = measure(eval_rows("test"))
    assert result.caught.rate >= CAUGHT, figures(result)
    assert result.rejected.rate <= WRONGLY_REFUSED, figures(result)
    assert result.weakest[1] >= CATEGORY_CAUGHT, figures(result)


def test_the_development_data_meets_the_targets() -> None:
    result = measure(eval_rows("dev"))
    assert result.caught.rate >= CAUGHT, figures(result)
    assert result.rejected.rate <= WRONGLY_REFUSED, figures(result)


@pytest.mark.parametrize("name", OLDER)
def test_the_older_corpora_meet_the_targets(name: str) -> None:
    result = measure(older_rows(name))
    assert result.caught.rate >= CAUGHT, figures(result)
    assert result.rejected.rate <= WRONGLY_REFUSED, figures(result)
