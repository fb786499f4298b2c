"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that answers each request
with the next status it was told to (200 once told nothing) and keeps what it got."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    port: int
    answers: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def wait(self, done: Callable[[], bool], seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < deadline, f"waited {seconds}s; got {len(self.got)}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver(free_port())

    async def hook(request: Request) -> Response:
        status = found.answers.pop(0) if found.answers else 200
        found.got.append(Received(dict(request.headers), await request.body(), status))
        return Response(status_code=status)

    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=found.port,
                                           log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the receiver did not start"
        await asyncio.sleep(0.01)
    try:
        yield found
    finally:
        server.should_exit = True
        await task
