"""A lean keep-alive HTTP/1.1 load client on asyncio streams.

httpx spends ~9 ms of CPU per request under concurrency (its connection pool scans every
connection on each request), which on this 2-core machine made the load generator, not the
service, the bottleneck. This client does only what the benchmarks need.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any


async def _post_all(host: str, port: int, path: str, headers: dict[str, str],
                    bodies: Sequence[dict[str, Any]], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    for body in bodies:
        payload = json.dumps(body).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        status_line = await reader.readline()
        statuses.append(int(status_line.split()[1]))
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()


async def post_many(host: str, port: int, path: str, headers: dict[str, str],
                    bodies: Sequence[dict[str, Any]], connections: int) -> list[int]:
    """POSTs every body, spread over ``connections`` keep-alive connections; returns statuses."""
    statuses: list[int] = []
    await asyncio.gather(*(
        _post_all(host, port, path, headers, bodies[i::connections], statuses)
        for i in range(connections)
    ))
    return statuses
