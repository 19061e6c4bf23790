"""Browser fixtures for the ledger's console pages: Debian's chromium through Playwright, as tests/web does, at the
guard room's screen and at a phone's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize

from tests.web.test_console import ARTIFACTS, browser

__all__ = ["browser"]  # the console tests' own browser fixture, shared by the ledger's pages

PHONE: ViewportSize = {"width": 390, "height": 844}


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
