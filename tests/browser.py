"""Browser tests: Playwright driving Debian's Chromium (`apt-get install -y chromium`).

    @pytest.mark.browser
    @pytest.mark.django_db(transaction=True)
    def test_something(page, live_server):
        page.goto(live_server.url + "/accounts/login/")

`browser` is one Chromium for the whole session; `page` is a fresh context (cookies,
storage) and page per test; a page that logs a Content-Security-Policy violation to the
console fails its test (`page.csp_violations`). A missing Chromium fails the test with a message, it does not
skip: CI installs it. Playwright's sync API runs an event loop in this thread, so
Django's async-safety check is relaxed for the session (the ORM is still used
synchronously, from the test's own thread).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CRUCIBLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: browser tests need Debian's Chromium "
            "(`apt-get install -y chromium`), or set CRUCIBLE_CHROMIUM to its path.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread; Django would then refuse
    # ORM calls in the test body ("You cannot call this from an async context").
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # tests can assert the page ran its scripts without errors
    violations = []
    page.on("console", lambda message: violations.append(f"{page.url}: {message.text}")
            if is_csp_violation(message.text) else None)
    page.csp_violations = violations
    try:
        yield page
    finally:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


def is_csp_violation(text):
    """Chromium reports a blocked script, style, handler or eval on the console like this."""
    return "Content Security Policy" in text or "Content-Security-Policy" in text
