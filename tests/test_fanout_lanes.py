"""How a fan-out is cut into lanes: every address index in exactly one lane, lanes of about
equal size, and pacing positions that interleave without collisions."""

from __future__ import annotations

import hashlib

import pytest

from service.campaigns.lanes import (
    ABOVE_EVERY_INDEX,
    MAX_FANOUT_LANES,
    campaign_position,
    lane_bounds,
)

EDGES = [b"\x00" * 32, b"\xff" * 32, b"\x7f" + b"\xff" * 31, b"\x80" + b"\x00" * 31,
         b"\x55" + b"\xff" * 31, b"\x56" + b"\x00" * 31, b"\xaa" + b"\x00" * 31]
SAMPLE = [hashlib.sha256(str(n).encode()).digest() for n in range(20000)]


def lanes_holding(bounds: list[tuple[bytes, bytes]], index: bytes) -> list[int]:
    return [lane for lane, (after, below) in enumerate(bounds) if after < index < below]


@pytest.mark.parametrize("lanes", range(1, MAX_FANOUT_LANES + 1))
def test_every_index_falls_in_exactly_one_lane(lanes: int) -> None:
    bounds = lane_bounds(lanes)
    assert len(bounds) == lanes
    assert bounds[0][0] == b"" and bounds[-1][1] == ABOVE_EVERY_INDEX
    assert all(bounds[n][1] == bounds[n + 1][0] for n in range(lanes - 1))
    for index in EDGES + SAMPLE:
        assert len(lanes_holding(bounds, index)) == 1


@pytest.mark.parametrize("lanes", [2, 3, 4, 16])
def test_lanes_are_about_the_same_size(lanes: int) -> None:
    bounds = lane_bounds(lanes)
    sizes = [0] * lanes
    for index in SAMPLE:
        sizes[lanes_holding(bounds, index)[0]] += 1
    assert max(sizes) < 1.15 * len(SAMPLE) / lanes


@pytest.mark.parametrize("lanes", [0, MAX_FANOUT_LANES + 1, -1])
def test_a_lane_count_out_of_range_is_refused(lanes: int) -> None:
    with pytest.raises(ValueError, match="lanes"):
        lane_bounds(lanes)


@pytest.mark.parametrize(("lane", "lanes", "lane_position", "expected"), [
    (0, 1, 0, 0), (0, 1, 7, 7),
    (0, 2, 0, 0), (1, 2, 0, 1), (0, 2, 1, 2), (1, 2, 1, 3),
    (2, 3, 4, 14),
])
def test_campaign_positions_interleave_lanes(
    lane: int, lanes: int, lane_position: int, expected: int,
) -> None:
    assert campaign_position(lane, lanes, lane_position) == expected


@pytest.mark.parametrize("lanes", [1, 2, 5])
def test_equal_lanes_fill_every_position_once(lanes: int) -> None:
    positions = sorted(campaign_position(lane, lanes, n)
                       for lane in range(lanes) for n in range(10))
    assert positions == list(range(10 * lanes))
