"""Browser fixtures for the ledger's console pages: Debian's chromium through Playwright, as tests/web does, at the
guard room's screen and at a phone's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize, sync_playwright

from tests.web.test_console import ARGS, ARTIFACTS, CHROMIUM

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/system-deps.sh chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def contexts(browser: Browser, request: pytest.FixtureRequest) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens (one per person); each page's screenshot is left in tests/artifacts."""
    opened: list[BrowserContext] = []
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for n, context in enumerate(opened):
        for m, page in enumerate(context.pages):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{n}-{m}.png"), full_page=True)
        context.close()
