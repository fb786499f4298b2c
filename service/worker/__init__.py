"""The arq worker: settings, start-up and shutdown, and the jobs it runs, each a thin call into
its capability. May import every capability, core and db; nothing imports it but cli, devtools.
"""

from service.worker.jobs import build_worker
from service.worker.serve import serve

__all__ = ["build_worker", "serve"]
