"""The audit trail: hash-chained records of every use of PHI or consent, written inside the
audited transaction, and checked or exported for an auditor. May import core and db.
"""

from service.audit.chain import GENESIS, Entry, chain_hash, record, record_many
from service.audit.verify import verify_chain

__all__ = ["GENESIS", "Entry", "chain_hash", "record", "record_many", "verify_chain"]
