"""Dashboard sign-in to OWASP ASVS level 2: TOTP enrolment and codes (each used once), idle and
absolute session timeouts, rotation of the session at sign-in, CSRF tokens on every form, and a
lockout with its audit records. The pages are driven in Chromium as an admin would."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import httpx
import pyotp
from starlette.applications import Starlette

from service.admin import lockout, sessions
from service.admin.totp import _matching_step, provisioning_uri, qr_svg
from service.core.config import Settings
from tests.admin_session import (
    CSRF,
    enrolled,
    fill_sign_in,
    fresh_code,
    key_id,
    session_cookie,
    sign_in,
    sign_in_csrf,
    signed_in,
)
from tests.browser import browser_page, check_page, live_server, screenshot
from tests.test_cli import run
from tests.test_pages_browser import watch_console


def _wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


async def _audit(app: Starlette, action: str) -> list[dict[str, str]]:
    rows = await app.state.resources.db.fetch(
        "SELECT actor, object_id, outcome, detail FROM audit_log WHERE action = $1 ORDER BY id",
        action)
    return [dict(r) for r in rows]


async def test_an_admin_enrols_in_the_browser_then_signs_in_with_key_and_code_used_once(
    app: Starlette, keys: dict[str, str],
) -> None:
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/admin/login")
        await check_page(page, "sign-in")
        await fill_sign_in(page, keys["admin"])  # not enrolled yet: the key alone
        await page.wait_for_selector("svg.qr")
        assert page.url == f"{base}/admin/enrol"
        await check_page(page, "enrol")
        enrolling = await session_cookie(page)
        assert enrolling is not None
        await page.goto(f"{base}/admin")  # the enrolment session does not open the dashboard
        assert page.url == f"{base}/admin/login"
        await page.goto(f"{base}/admin/enrol")
        assert await page.locator("svg.qr path").count() == 1
        assert await page.get_attribute("svg.qr", "role") == "img"
        secret = (await page.inner_text("figure.qr code")).strip()
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        await screenshot(page, "admin-enrol")

        code = pyotp.TOTP(secret).now()
        await page.fill("#code", _wrong(code))
        await page.get_by_role("button", name="Confirm").click()
        await page.wait_for_selector("text=That code was not accepted")
        await page.fill("#code", code)
        await page.get_by_role("button", name="Confirm").click()
        await page.wait_for_selector("h1:text-is('Engagement')")
        assert page.url == f"{base}/admin"
        signed = await session_cookie(page)
        assert signed not in (None, enrolling)  # a new session id once the factor is proven

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_selector("#api_key")
        await fill_sign_in(page, keys["admin"], code)  # the code that enrolled: replayed
        await page.wait_for_selector("text=That key or code was not accepted")
        await fill_sign_in(page, keys["admin"], _wrong(code))
        await page.wait_for_selector("text=That key or code was not accepted")
        await fill_sign_in(page, keys["admin"], await fresh_code(app, secret))
        await page.wait_for_selector("h1:text-is('Engagement')")
        assert await session_cookie(page) not in (None, enrolling, signed)
        assert problems == []

    attempts = await _audit(app, "admin.sign_in")
    assert [(r["outcome"], r["detail"]) for r in attempts] == [
        ("refused", "enrol_wrong_code"), ("ok", "client:127.0.0.1"),
        ("refused", "replayed_code"), ("refused", "wrong_code"), ("ok", "client:127.0.0.1")]
    assert [r["outcome"] for r in await _audit(app, "admin.totp.enrol")] == ["started", "ok"]
    stored = await app.state.resources.db.fetchval("SELECT secret_sealed FROM admin_totp")
    assert secret.encode() not in stored


async def test_lockout_after_five_failures_for_a_key_is_audited_and_says_for_how_long(
    app: Starlette, keys: dict[str, str],
) -> None:
    secret = await enrolled(app, keys["admin"])
    guess = _wrong(pyotp.TOTP(secret).now())
    async with live_server(app) as base, browser_page() as page:
        problems = watch_console(page)
        await page.goto(f"{base}/admin/login")
        for _ in range(lockout.KEY_LIMIT - 1):
            await fill_sign_in(page, keys["admin"], guess)
            await page.wait_for_selector("text=That key or code was not accepted")
        await fill_sign_in(page, keys["admin"], guess)
        await page.wait_for_selector("text=Sign-in is locked")
        assert "locked for 15 more minutes" in await page.inner_text("main")
        await check_page(page, "admin-locked")
        await page.get_by_role("link", name="Back to sign-in").click()
        await fill_sign_in(page, keys["admin"], await fresh_code(app, secret))  # right, but locked
        await page.wait_for_selector("text=Sign-in is locked")
        assert problems == []

    failures = await _audit(app, "admin.sign_in")
    assert [(r["outcome"], r["object_id"], r["detail"]) for r in failures] == [
        ("refused", key_id(keys["admin"]), "wrong_code")] * lockout.KEY_LIMIT
    [lock] = await _audit(app, "admin.sign_in.lock")
    assert lock["object_id"] == f"key:{key_id(keys['admin'])}" and lock["outcome"] == "locked"
    # The secret halves of what was presented never reach the audit log.
    everything = str(await app.state.resources.db.fetch("SELECT * FROM audit_log"))
    assert keys["admin"].split("_", 2)[2] not in everything and guess not in everything


async def test_one_client_trying_many_keys_is_locked_and_told_when_to_retry(
    app: Starlette, client: httpx.AsyncClient,
) -> None:
    for n in range(lockout.CLIENT_LIMIT - 1):
        refused = await sign_in(client, f"hm_{n:016x}_guess", "")
        assert refused.status_code == 401
    locked = await sign_in(client, "hm_ffffffffffffffff_guess", "")
    assert locked.status_code == 429
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    [lock] = await _audit(app, "admin.sign_in.lock")
    assert lock["object_id"].startswith("client:")


async def test_every_form_post_needs_its_csrf_token(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    secret = await enrolled(app, keys["admin"])
    code = await fresh_code(app, secret)
    no_cookie = await client.post("/admin/login", data={"api_key": keys["admin"], "code": code})
    assert no_cookie.status_code == 403
    csrf = await sign_in_csrf(client)
    for presented in ({}, {"csrf": "0" * 64}, {"csrf": csrf[:-1]}):
        refused = await client.post(
            "/admin/login", data={"api_key": keys["admin"], "code": code, **presented})
        assert refused.status_code == 403, presented
    other = sessions.pre_session_csrf(app.state.resources.settings.keyring, "another browser")
    assert (await client.post("/admin/login", data={
        "api_key": keys["admin"], "code": code, "csrf": other})).status_code == 403
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM admin_sessions") == 0

    await app.state.resources.db.execute("DELETE FROM admin_totp")
    enrolling = await sign_in(client, keys["admin"], "")
    assert enrolling.headers["location"] == "/admin/enrol"
    page = await client.get("/admin/enrol")
    pending = re.search(r"<code>([A-Z2-7]+)</code>", page.text)
    assert pending is not None
    enrol_code = pyotp.TOTP(pending.group(1)).now()
    for presented in ({}, {"csrf": "0" * 64}):
        refused = await client.post("/admin/enrol", data={"code": enrol_code, **presented})
        assert refused.status_code == 403
    match = CSRF.search(page.text)
    assert match is not None
    done = await client.post("/admin/enrol", data={"code": enrol_code, "csrf": match.group(1)})
    assert done.headers["location"] == "/admin"
    assert (await client.get("/admin")).status_code == 200
    assert (await client.post("/admin/logout", data={})).status_code == 403
    assert (await client.get("/admin")).status_code == 200


async def test_sessions_end_after_30_idle_minutes_or_8_hours_and_each_request_slides_idle(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    db = app.state.resources.db
    await signed_in(app, client, keys["admin"])
    await db.execute("UPDATE admin_sessions SET last_seen_at = now() - interval '29 minutes'")
    assert (await client.get("/admin")).status_code == 200
    assert await db.fetchval(
        "SELECT now() - last_seen_at < interval '1 minute' FROM admin_sessions")
    await db.execute("UPDATE admin_sessions SET last_seen_at = now() - interval '31 minutes'")
    assert (await client.get("/admin")).headers["location"] == "/admin/login"

    await signed_in(app, client, keys["admin"])
    await db.execute("UPDATE admin_sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/admin")).headers["location"] == "/admin/login"
    assert sessions.IDLE_SECONDS == 30 * 60 and sessions.SESSION_SECONDS == 8 * 3600


async def test_sign_in_rotates_the_session_and_ends_the_one_the_browser_held(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    secret = await enrolled(app, keys["admin"])
    first = await sign_in(client, keys["admin"], await fresh_code(app, secret))
    held = client.cookies.get("hm_admin", path="/admin")
    assert first.status_code == 303 and held is not None
    second = await sign_in(client, keys["admin"], await fresh_code(app, secret))
    assert second.status_code == 303
    token = second.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert token != held
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM admin_sessions") == 1
    client.cookies.set("hm_admin", held, path="/admin")
    assert (await client.get("/admin")).headers["location"] == "/admin/login"


def test_codes_from_more_than_one_step_away_are_refused() -> None:
    secret = pyotp.random_base32(32)
    now = time.time()
    totp = pyotp.TOTP(secret)
    assert _matching_step(secret, totp.at(now), now) == int(now // 30)
    assert _matching_step(secret, totp.at(now - 30), now) is not None
    assert _matching_step(secret, totp.at(now - 60), now) is None
    assert _matching_step(secret, totp.at(now + 60), now) is None
    assert _matching_step(secret, "\N{FULLWIDTH DIGIT ONE}" * 6, now) is None
    svg = qr_svg(provisioning_uri(secret, "ops"))
    assert svg.startswith('<svg role="img" ') and "style=" not in svg and "<script" not in svg


async def test_enrol_totp_from_the_command_line_prints_a_factor_that_signs_in(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    tmp_path: Path,
) -> None:
    env = {
        "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
        "MASTER_KEYS": ",".join(f"{kid}:{base64.b64encode(key).decode()}"
                                for kid, key in settings.keyring.keys.items()),
    }
    unknown = run(tmp_path, "enrol-totp", "--key-id", key_id(keys["sender"]), **env)
    assert unknown.returncode == 1 and "no unrevoked admin or marketer key" in unknown.stderr
    done = run(tmp_path, "enrol-totp", "--key-id", key_id(keys["admin"]), **env)
    assert done.returncode == 0, done.stderr
    uri = done.stdout.strip()
    assert uri.startswith("otpauth://totp/") and "issuer=hipaa-mail" in uri
    secret = re.search(r"secret=([A-Z2-7]+)", uri)
    assert secret is not None and secret.group(1) not in done.stderr
    response = await sign_in(client, keys["admin"], pyotp.TOTP(secret.group(1)).now())
    assert response.headers["location"] == "/admin"
    [record] = await _audit(app, "admin.totp.enrol")
    assert record["actor"] == "operator" and secret.group(1) not in str(record)
