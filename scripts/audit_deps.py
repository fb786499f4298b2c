"""``make audit-deps``: the installed dependencies against a vulnerability advisory database
(pip-audit), with three outcomes that cannot be mistaken for one another.

pip-audit reports "No known vulnerabilities found" and exits 0 when it could look nothing up:
behind a package mirror without PyPI's JSON API every dependency is only "not found on PyPI",
which it lists as skipped. Here a dependency that was not looked up makes the run "not checked".

Exit status: 0 every dependency checked, none vulnerable; 1 a known vulnerability (listed);
3 advisory database unreachable, or some dependencies not checked (named). Arguments go to
pip-audit, e.g. ``-s osv`` for the OSV database instead of PyPI's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

VULNERABLE = 1
NOT_CHECKED = 3


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    lines = [
        f"{d['name']} {d['version']}: {v['id']}"
        + (f" (fixed in {', '.join(v['fix_versions'])})" if v.get("fix_versions") else "")
        for d in vulnerable for v in d["vulns"]
    ]
    if skipped and len(skipped) == len(dependencies):
        lines.append(f"advisory database unreachable: not checked (none of {len(dependencies)}"
                     f" dependencies could be looked up: {skipped[0]['skip_reason']})")
    elif skipped:
        lines.append(f"not checked: {len(skipped)} of {len(dependencies)} dependencies could not"
                     " be looked up: " + "; ".join(d["skip_reason"] for d in skipped))
    if vulnerable:
        return VULNERABLE, lines
    if skipped:
        return NOT_CHECKED, lines
    if not dependencies:
        return NOT_CHECKED, ["not checked: pip-audit found no dependencies"]
    return 0, [f"{len(dependencies)} dependencies checked: no known vulnerabilities"]


def main(arguments: list[str]) -> int:
    done = subprocess.run(  # noqa: S603 - this interpreter's own pip-audit, fixed arguments
        [sys.executable, "-m", "pip_audit", "--format", "json", "--skip-editable",
         "--progress-spinner", "off", *arguments],
        capture_output=True, text=True, check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        # No report at all: the database did not answer (a connection error, a timeout).
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"advisory database unreachable: not checked (pip-audit gave no report: {reason})",
              file=sys.stderr)
        return NOT_CHECKED
    status, lines = verdict(report)
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
