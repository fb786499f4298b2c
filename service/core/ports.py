"""A port taken by something else is a configuration problem: say which setting moves it."""

from __future__ import annotations

import socket

from service.core.config import ConfigError


def ensure_free(host: str, port: int, variable: str) -> None:
    """Raise ConfigError naming ``variable`` when ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option uvicorn and asyncio servers set, so a port in TIME_WAIT is not "busy".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                variable, f"port {port} on {host} is not available ({exc.strerror}); "
                f"set {variable} to a free port"
            ) from None
