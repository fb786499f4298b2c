"""The pure parts of engagement: HyperLogLog, tracking tokens, the machine classifier, the
disclosure-control policy, charts."""

from __future__ import annotations

import base64
import datetime as dt
import random
import uuid

import pytest

from service.admin import charts
from service.core.crypto import Keyring, encode_token
from service.engagement import hyperloglog, tokens
from service.engagement.machines import is_machine
from service.engagement.small_cells import (
    Shown,
    accepts_day,
    period_days,
    protect_union,
    published_periods,
    show_count,
    show_rate,
)


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
    hit = tokens.read(KEYRING, tokens.mint(KEYRING, CAMPAIGN, link, nonce, 1_790_000_000))
    assert hit == tokens.Hit(CAMPAIGN, link, nonce, 1_790_000_000)


def test_the_time_in_a_token_is_sealed_and_version_1_tokens_still_count() -> None:
    nonce = tokens.new_nonce()
    early = base64.urlsafe_b64decode(tokens.mint(KEYRING, CAMPAIGN, None, nonce, 1_790_000_000))
    late = base64.urlsafe_b64decode(tokens.mint(KEYRING, CAMPAIGN, None, nonce, 1_790_000_001))
    readable = (1_790_000_000).to_bytes(4, "big")
    assert early[34:38] != readable and early[34:38] != late[34:38]
    # One delivered before version 2: no time, still counted.
    body = bytes([1]) + CAMPAIGN.bytes + bytes([0]) + nonce
    old = encode_token(body + KEYRING.mac(b"tracking", body)[:16])
    assert tokens.read(KEYRING, old) == tokens.Hit(CAMPAIGN, None, nonce, None)


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
    (15, 40, 0.375), (0, 40, 0.0), (7, 40, None), (11, 11, 1.0), (0, 0, None), (41, 40, 1.0),
])
def test_rates_are_withheld_when_built_on_a_small_count(
    numerator: int, denominator: int, rate: float | None
) -> None:
    assert show_rate(show_count(numerator), denominator) == rate
    assert show_rate(Shown("withheld", True), denominator) is None


S, W = "<11", "withheld"


@pytest.mark.parametrize(("whole", "parts", "shown_whole", "shown_parts"), [
    # Nothing small: all shown.
    (60, [40, 25], 60, [40, 25]),
    # One link small, the other shown: 42 - 40 would say it is at least 2; the other link goes.
    (42, [3, 40], 42, [S, W]),
    # ... the smallest shown link is the one withheld.
    (62, [3, 40, 20], 62, [S, 40, W]),
    # 50 - (12 + 40) < 2: the shown figures bound the small link by nothing.
    (50, [3, 12, 40], 50, [S, 12, 40]),
    # Two small links and a union of 12: each is at least 12 - 10 = 2; only the union can go.
    (12, [6, 6], W, [S, S]),
    # A union of 11 over two small links: at least 1 each, which "<11" says already.
    (11, [6, 5], 11, [S, S]),
    # A small union makes every link small or zero.
    (7, [7, 0], S, [S, 0]),
    (0, [0, 0], 0, [0, 0]),
    # One link: the union is the link, suppressed alike.
    (5, [5], S, [S]),
    (30, [30], 30, [30]),
])
def test_complementary_suppression_of_a_union_and_its_parts(
    whole: int, parts: list[int], shown_whole: int | str, shown_parts: list[int | str]
) -> None:
    top, each = protect_union(whole, parts)
    assert (top.value, [p.value for p in each]) == (shown_whole, shown_parts)


def test_no_small_link_can_be_bounded_above_one_whatever_the_figures() -> None:
    rng = random.Random(16)
    for _ in range(20_000):
        parts = [rng.choice([0, rng.randint(1, 10), rng.randint(11, 60)])
                 for _ in range(rng.randint(1, 4))]
        whole = max(parts, default=0) + rng.randint(0, sum(parts) - max(parts, default=0))
        top, each = protect_union(whole, parts)
        if not isinstance(top.value, int):
            continue  # the union is not shown: no lower bound from it
        for j, shown in enumerate(each):
            if shown.value != S:
                continue
            most = [p.value if isinstance(p.value, int) else 10 if p.value == S else whole
                    for i, p in enumerate(each) if i != j]
            assert top.value - sum(most) <= 1, (whole, parts, top, each)


FIRST = dt.date(2026, 3, 2)


@pytest.mark.parametrize(("today", "published"), [
    (FIRST, 0), (FIRST + dt.timedelta(7), 0), (FIRST + dt.timedelta(8), 1),
    (FIRST + dt.timedelta(14), 1), (FIRST + dt.timedelta(15), 2), (FIRST - dt.timedelta(3), 0),
])
def test_a_period_is_shown_a_day_after_it_ends(today: dt.date, published: int) -> None:
    assert published_periods(FIRST, today) == published


@pytest.mark.parametrize(("period", "days"), [
    (0, (FIRST, FIRST + dt.timedelta(6))),
    (2, (FIRST + dt.timedelta(14), FIRST + dt.timedelta(20))),
])
def test_periods_are_fixed_bins_from_the_first_day(
    period: int, days: tuple[dt.date, dt.date]
) -> None:
    assert period_days(FIRST, period) == days


def test_a_shown_period_takes_no_more_counts() -> None:
    for offset in range(60):
        today = FIRST + dt.timedelta(offset)
        shown = published_periods(FIRST, today)
        for later in range(offset, 70):
            then = FIRST + dt.timedelta(later)
            for day_offset in range(0, 7 * shown):
                assert not accepts_day(FIRST + dt.timedelta(day_offset), then)
    assert accepts_day(FIRST + dt.timedelta(6), FIRST + dt.timedelta(7))


APPLE = "Mozilla/5.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"


@pytest.mark.parametrize(("method", "agent", "seconds", "machine"), [
    ("GET", SAFARI, 3600, False),
    ("GET", OUTLOOK, 120, False),
    ("GET", SAFARI, None, False),  # a version 1 token: no time to judge by
    ("HEAD", SAFARI, 3600, True),
    ("head", SAFARI, 3600, True),
    ("GET", SAFARI, 4, True),  # seconds after delivery: a prefetch or a scan
    ("GET", SAFARI, -2, True),  # a worker's clock a little ahead
    ("GET", SAFARI, 30, False),
    ("GET", APPLE, 3600, True),  # Apple Mail Privacy Protection
    ("GET", " Mozilla/5.0 ", 3600, True),
    ("GET", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
            "GoogleImageProxy)", 3600, True),
    ("GET", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
     3600, True),
    ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", 3600, True),
    ("GET", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36", 3600, True),
    ("GET", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", 3600, True),
    ("GET", "", 3600, True),
    ("GET", None, 3600, True),
])
def test_machine_hits_are_told_apart_at_hit_time(
    method: str, agent: str | None, seconds: float | None, machine: bool
) -> None:
    assert is_machine(method, agent, seconds, 30) is machine


def test_a_withheld_figure_is_written_not_drawn() -> None:
    svg = charts.bars("t", [charts.Bar("Spring <news>: withheld", None),
                            charts.Bar("Click rate: 30.0%", 0.3)])
    assert svg.count('class="bar"') == 1 and svg.count('class="track"') == 1
    assert "withheld" in svg and "30.0%" in svg
    assert "Spring &lt;news&gt;" in svg and "<news>" not in svg
    assert 'width="30.00%"' in svg


def test_only_the_canonical_spelling_of_a_token_counts() -> None:
    token = tokens.mint(KEYRING, CAMPAIGN, 0, tokens.new_nonce())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    aliases = [token[:-1] + c for c in alphabet if c != token[-1]]
    assert tokens.read(KEYRING, token) is not None
    assert all(tokens.read(KEYRING, alias) is None for alias in aliases)
