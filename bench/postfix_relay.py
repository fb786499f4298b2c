"""A private Postfix instance for benchmarks: STARTTLS required with the bench's test CA, on a
loopback port of its own, every message accepted into its queue (written and fsynced, as a real
relay does) and then discarded. Debian's `postfix` package; needs root (Postfix's own daemons
drop to the `postfix` user). The system's Postfix, if any, is not touched.

    with postfix_relay(port, certs) as log: ...   # `log` is the instance's maillog
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from service.devtools.certs import CertFiles

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.bench.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = discard
relay_transport = discard
local_transport = discard
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = encrypt
"""


def available() -> bool:
    return shutil.which("postfix") is not None and Path("/etc/postfix/master.cf").exists()


@contextlib.contextmanager
def postfix_relay(port: int, certs: CertFiles) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hipaa-bench-postfix-"))
    root.chmod(0o755)  # Postfix's daemons, as `postfix`, reach their data directory through it
    conf = root / "conf"
    for sub in ("conf", "queue", "data"):
        (root / sub).mkdir()
    shutil.chown(root / "data", "postfix")
    (conf / "main.cf").write_text(_MAIN_CF.format(root=root, cert=certs.server_cert,
                                                  key=certs.server_key))
    # The stock master.cf with its port-25 listener moved to ours, unchrooted (the chroot would
    # need a copy of the system's files under the queue directory).
    master = re.sub(r"(?m)^smtp\s+inet\s.*$", f"127.0.0.1:{port} inet n - n - - smtpd",
                    Path("/etc/postfix/master.cf").read_text())
    (conf / "master.cf").write_text(master)
    postfix = ["postfix", "-c", str(conf)]
    started = subprocess.run([*postfix, "start"], capture_output=True, text=True)
    if started.returncode:
        log = root / "maillog"
        raise RuntimeError("postfix did not start: " + started.stderr
                           + (log.read_text() if log.exists() else ""))
    try:
        _wait_listening(port)
        yield root / "maillog"
    finally:
        subprocess.run([*postfix, "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _wait_listening(port: int) -> None:
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"postfix did not listen on 127.0.0.1:{port}")
