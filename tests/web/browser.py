"""Launching Debian's Chromium through Playwright (its own browser download cannot work here), and the small
steps every browser journey shares."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("KITH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots go to build/screenshots/ (ignored by git) so that a test run leaves the tree clean;
# KITH_SCREENSHOTS_DIR=docs/screenshots refreshes the copies the README shows.
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = _ROOT / os.environ.get("KITH_SCREENSHOTS_DIR", "build/screenshots")
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def browser_missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}; run scripts/install-browser (apt-get install chromium)"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


class PageProblems:
    """Console errors and CSP refusals a page reported: a journey fails on any of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.messages.append(f"page error: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error" or "Content Security Policy" in msg.text:
            self.messages.append(f"{msg.type}: {msg.text}")


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def page_in(
    browser: Any, *, viewport: dict[str, int] = DESKTOP, js: bool = True, allow: tuple[str, ...] = ()
) -> AsyncIterator[Any]:
    """A fresh browser context and page; ``allow`` lists console messages the journey expects (a refused
    login is a 401)."""
    context = await browser.new_context(viewport=viewport, java_script_enabled=js)
    context.set_default_timeout(20_000)  # generous: CI machines are shared and often loaded
    page = await context.new_page()
    problems = PageProblems()
    problems.watch(page)
    try:
        yield page
    finally:
        await context.close()
    unexpected = [m for m in problems.messages if not any(a in m for a in allow)]
    assert not unexpected, unexpected


async def sign_in(page: Any, base: str, secret: str, *, then: str = "/") -> None:
    await page.goto(base + then)
    assert page.url.startswith(base + "/login")
    await page.get_by_label("Owner token").or_(page.get_by_label("Password or owner token")).fill(secret)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + then)


async def shoot(page: Any, name: str) -> None:
    """SCREENSHOTS/NAME-WIDTH.png, the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
