"""Subject lines: normalisation, the health-term lexicon, detectors, the admins' allowlist and
the gate every send passes. May import core and db; other capabilities use what is named here.
"""

from service.subjects.gate import SubjectGate
from service.subjects.policy import SubjectPolicy, SubjectVerdict

__all__ = ["SubjectGate", "SubjectPolicy", "SubjectVerdict"]
