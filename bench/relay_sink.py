"""A STARTTLS-only SMTP sink in its own process for benchmarks: counts messages, keeps none.

Usage: python bench/relay_sink.py PORT CERT_DIR  (prints "ready" when listening)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from service.devtools.certs import CertFiles
from service.devtools.relay import server_tls_context


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 OK"


async def main(port: int, cert_dir: Path) -> None:
    certs = CertFiles(cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server.key")
    controller = Controller(
        Counter(), hostname="127.0.0.1", port=port, tls_context=server_tls_context(certs),
        require_starttls=True, decode_data=False,
    )
    controller.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
