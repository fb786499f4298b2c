"""Retention of message rows (RETENTION_DAYS): deleting, in the background and a batch at a
time, the messages and events older than the period, and the sealed audience of a campaign
retired whole, after keeping its figures. May import core, db and audit.
"""

from service.retention.deletion import Retired, retire

__all__ = ["Retired", "retire"]
