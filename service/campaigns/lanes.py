"""How a campaign's fan-out is split into lanes that run side by side. Pure.

An audience is keyed by the address's blind index, an HMAC: its first byte is uniform, so
cutting the index space at first-byte boundaries gives lanes of nearly equal size without
counting anything. Each lane keeps its own checkpoint, so lanes run as separate jobs on one
worker or many, and the database writes each lane's messages on its own connection.

Bounds are exclusive on both sides. A lane's lower bound is a single byte (or empty) and every
index is 32 bytes, so no index equals a bound: an index starting with byte ``b`` is above
``bytes([b])`` and below ``bytes([b + 1])``. The last lane ends above every index.
"""

from __future__ import annotations

from service.core.config import MAX_FANOUT_LANES

ABOVE_EVERY_INDEX = b"\xff" * 33


def lane_bounds(lanes: int) -> list[tuple[bytes, bytes]]:
    """``(after, below)`` for each lane, covering the whole index space once."""
    if not 1 <= lanes <= MAX_FANOUT_LANES:
        raise ValueError(f"lanes must be 1..{MAX_FANOUT_LANES}")
    cuts = [bytes([lane * 256 // lanes]) for lane in range(1, lanes)]
    return list(zip([b"", *cuts], [*cuts, ABOVE_EVERY_INDEX], strict=True))


def campaign_position(lane: int, lanes: int, lane_position: int) -> int:
    """The campaign-wide pacing position of a lane's n-th message: lanes interleave, so each
    lane's messages spread over the whole send instead of one lane's coming first."""
    return lane_position * lanes + lane
