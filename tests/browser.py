"""Real-browser helpers: the app served by uvicorn in the test's event loop, and Debian's
headless Chromium driven by Playwright (its driver ships in the wheel; no browser download)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, async_playwright
from starlette.applications import Starlette

from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps calling Google services that this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


@asynccontextmanager
async def live_server(app: Starlette) -> AsyncIterator[str]:
    """Serves an app whose lifespan the caller already entered; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False,
    ))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                yield page
            finally:
                await context.close()


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# The widths every page must work at: a small phone and a desktop.
WIDTHS = (360, 1440)
_AXE = Axe()
# WCAG 2.0-2.2 A and AA, and axe's best practices (landmarks, one h1, headings in order).
_AXE_OPTIONS = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now: rule, impact, where."""
    results = await _AXE.run(page, options=_AXE_OPTIONS)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"] if v["impact"] in ("serious", "critical")
    ]


async def check_page(page: Page, name: str) -> None:
    """The page as it is now, at each width: no serious or critical axe finding, nothing wider
    than the screen (no sideways scrolling of the whole page), the clinic named at the top and
    its contact at the foot, and a full-page screenshot ``tests/artifacts/<name>-<width>.png``
    for a reviewer. Restores the desktop width."""
    problems = []
    if await page.locator("header.site .clinic-name").count() != 1:
        problems.append("the clinic is not named at the top")
    foot = await page.locator("footer.contact").all_inner_texts()
    if len(foot) != 1 or not ("Phone:" in foot[0] or "Web:" in foot[0]):
        problems.append(f"no contact at the foot: {foot}")
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        problems += [f"{width}px: {v}" for v in await serious_violations(page)]
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            problems.append(f"{width}px: the page is {overflow}px wider than the screen")
        await screenshot(page, f"{name}-{width}")
    await page.set_viewport_size({"width": WIDTHS[-1], "height": 900})
    assert problems == [], f"{name}: {problems}"
