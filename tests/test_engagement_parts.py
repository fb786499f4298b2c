"""The pure parts of engagement: HyperLogLog, tracking tokens, small-cell suppression, charts."""

from __future__ import annotations

import base64
import random
import uuid

import pytest

from service.admin import charts
from service.core.crypto import Keyring
from service.engagement import hyperloglog, tokens
from service.engagement.small_cells import show_count, show_rate


def _values(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(16) for _ in range(n)]


@pytest.mark.parametrize(("n", "tolerance"), [
    (0, 0), (1, 0), (15, 1), (1_000, 50), (50_000, 2_500),
])
def test_hyperloglog_estimates_within_its_error(n: int, tolerance: int) -> None:
    registers = hyperloglog.empty()
    for value in _values(n, seed=n):
        hyperloglog.add(registers, value)
    assert abs(hyperloglog.estimate(bytes(registers)) - n) <= tolerance


def test_hyperloglog_counts_a_repeat_once_and_merges_as_a_union() -> None:
    a, b = hyperloglog.empty(), hyperloglog.empty()
    shared = _values(300, seed=1)
    for value in shared + shared:
        hyperloglog.add(a, value)
    for value in shared[:100] + _values(200, seed=2):
        hyperloglog.add(b, value)
    assert abs(hyperloglog.estimate(bytes(a)) - 300) <= 15
    assert abs(hyperloglog.estimate(hyperloglog.merge(bytes(a), bytes(b))) - 500) <= 25
    # A short sketch (a Redis string never written to its end) reads as zero-padded.
    assert hyperloglog.merge(b"\x03") == b"\x03" + bytes(hyperloglog.REGISTERS - 1)


@pytest.mark.parametrize(("value", "position"), [
    (bytes(8), (0, 53)),
    (b"\xff" * 8, (4095, 1)),
    (b"\x00\x10" + bytes(6), (1, 53)),
    (b"\x00\x08" + bytes(6), (0, 1)),
    (b"\x00\x04" + bytes(6), (0, 2)),
])
def test_hyperloglog_register_and_rank(value: bytes, position: tuple[int, int]) -> None:
    assert hyperloglog.position(value) == position


KEYRING = Keyring.generate()
CAMPAIGN = uuid.uuid4()


@pytest.mark.parametrize("link", [None, 0, 7, 249])
def test_a_token_reads_back_as_what_was_minted(link: int | None) -> None:
    nonce = tokens.new_nonce()
    hit = tokens.read(KEYRING, tokens.mint(KEYRING, CAMPAIGN, link, nonce))
    assert hit == tokens.Hit(CAMPAIGN, link, nonce)


def test_every_edited_byte_of_a_token_makes_it_count_nowhere() -> None:
    token = tokens.mint(KEYRING, CAMPAIGN, 0, tokens.new_nonce())
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    for index in range(len(raw)):
        edited = bytearray(raw)
        edited[index] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(edited)).rstrip(b"=").decode()
        assert tokens.read(KEYRING, text) is None, index
    for junk in ("", "x", token + "A", token[:-1], "!" * len(token)):
        assert tokens.read(KEYRING, junk) is None
    assert tokens.read(Keyring.generate(), token) is None


def test_tokens_of_one_email_share_a_nonce_and_carry_no_recipient() -> None:
    nonce = tokens.new_nonce()
    pixel = tokens.mint(KEYRING, CAMPAIGN, None, nonce)
    click = tokens.mint(KEYRING, CAMPAIGN, 0, nonce)
    assert tokens.read(KEYRING, pixel).nonce == tokens.read(KEYRING, click).nonce  # type: ignore[union-attr]
    assert tokens.mint(KEYRING, CAMPAIGN, None, tokens.new_nonce()) != pixel


@pytest.mark.parametrize(("count", "k", "shown"), [
    (0, 11, 0), (1, 11, "<11"), (7, 11, "<11"), (10, 11, "<11"), (11, 11, 11),
    (4, 5, "<5"), (5, 5, 5), (1_000_000, 11, 1_000_000),
])
def test_small_counts_are_suppressed(count: int, k: int, shown: int | str) -> None:
    assert show_count(count, k).value == shown


@pytest.mark.parametrize(("numerator", "denominator", "rate"), [
    (15, 40, 0.375), (0, 40, 0.0), (7, 40, None), (12, 10, None), (11, 11, 1.0),
    (0, 0, None), (20, 5, None), (41, 40, 1.0),
])
def test_rates_are_withheld_when_built_on_a_small_count(
    numerator: int, denominator: int, rate: float | None
) -> None:
    assert show_rate(numerator, denominator) == rate


def test_a_withheld_rate_is_written_not_drawn() -> None:
    svg = charts.rate_bars("t", [("Spring <news>", [("Open rate", None), ("Click rate", 0.3)])])
    assert svg.count("<rect") == 1
    assert "withheld" in svg and "30.0%" in svg
    assert "Spring &lt;news&gt;" in svg
    days = charts.day_columns("d", [("2026-11-01", "<11"), ("2026-11-02", 40)], "opens")
    assert days.count("<rect") == 1
    assert "&lt;11" in days


def test_only_the_canonical_spelling_of_a_token_counts() -> None:
    token = tokens.mint(KEYRING, CAMPAIGN, 0, tokens.new_nonce())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    aliases = [token[:-1] + c for c in alphabet if c != token[-1]]
    assert tokens.read(KEYRING, token) is not None
    assert all(tokens.read(KEYRING, alias) is None for alias in aliases)
