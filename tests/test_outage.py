"""Which errors mean "the database is out of reach" (503, retry) and which are bugs (500, fail),
and how long a worker's write keeps trying. Pure: the errors are the ones asyncpg raises."""

from __future__ import annotations

import asyncpg
import pytest

from service.db import outage


def _raised_while_handling(error: BaseException, during: BaseException) -> BaseException:
    try:
        try:
            raise during
        except BaseException:
            raise error  # noqa: B904 - the implicit __context__ is the point
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(("error", "expected"), [
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
     True),
    (asyncpg.CannotConnectNowError("the database system is starting up"), True),
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
    (asyncpg.CrashShutdownError("terminating connection because of crash"), True),
    (ConnectionRefusedError(111, "Connect call failed"), True),
    (TimeoutError(), True),
    (asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in "
                                 "progress"), True),
    (asyncpg.InterfaceError("connection is closed"), True),
    # A rollback on a dead connection: the outage is its context.
    (_raised_while_handling(asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the "
                                                   "underlying connection is closed"),
                            asyncpg.ConnectionDoesNotExistError("closed")), True),
    # Bugs and bad queries stay errors.
    (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
     False),
    (asyncpg.UndefinedColumnError("column x does not exist"), False),
    (asyncpg.UniqueViolationError("duplicate key"), False),
    (asyncpg.DataError("invalid input"), False),
    (ValueError("bad"), False),
])
def test_is_outage(error: BaseException, expected: bool) -> None:
    assert outage.is_outage(error) is expected


async def test_a_write_is_retried_through_an_outage_and_not_through_a_bug() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        return "written"

    assert await outage.persist(flaky, "test") == "written" and calls == 4

    async def broken() -> None:
        raise asyncpg.UndefinedColumnError("column x does not exist")

    with pytest.raises(asyncpg.UndefinedColumnError):
        await outage.persist(broken, "test")


async def test_a_write_gives_up_after_its_time() -> None:
    async def down() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    with pytest.raises(ConnectionRefusedError):
        await outage.persist(down, "test", seconds=0.2)
