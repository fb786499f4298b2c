"""Signing in to the dashboard in tests: an operator's TOTP enrolment, codes that have not been
used yet, and the sign-in form over HTTP or in Chromium."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
from playwright.async_api import Page
from starlette.applications import Starlette

from service.admin import totp

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def key_id(key: str) -> str:
    return key.split("_")[1]


async def enrolled(app: Starlette, key: str) -> str:
    """Gives the admin key a second factor as ``enrol-totp`` does; its secret."""
    res = app.state.resources
    uri = await totp.enrol_by_operator(res.db, res.settings.keyring, key_id(key))
    assert uri is not None
    return parse_qs(urlparse(uri).query)["secret"][0]


async def fresh_code(app: Starlette, secret: str) -> str:
    """A code the service will accept now: the current step's, or the next one's when the
    current one was used already (a code is accepted once)."""
    used = await app.state.resources.db.fetchval("SELECT max(last_step) FROM admin_totp")
    step = int(time.time() // 30)
    if used is not None and used >= step:
        step = used + 1
    assert step <= time.time() // 30 + 1, "both usable steps were used: wait for the next"
    return pyotp.TOTP(secret).generate_otp(step)


async def sign_in_csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/admin/login")
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str, code: str) -> httpx.Response:
    csrf = await sign_in_csrf(client)
    return await client.post("/admin/login", data={"api_key": key, "code": code, "csrf": csrf})


async def signed_in(app: Starlette, client: httpx.AsyncClient, key: str) -> str:
    """Enrols the key, signs in over HTTP; the session token."""
    secret = await enrolled(app, key)
    response = await sign_in(client, key, await fresh_code(app, secret))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert "Path=/admin" in cookie
    return cookie.split(";")[0].split("=", 1)[1]


async def fill_sign_in(page: Page, key: str, code: str = "") -> None:
    await page.fill("#api_key", key)
    await page.fill("#code", code)
    await page.get_by_role("button", name="Sign in").click()


async def session_cookie(page: Page) -> str | None:
    return next((c["value"] for c in await page.context.cookies() if c["name"] == "hm_admin"),
                None)
