"""Every main page under the Content-Security-Policy in a real Chromium: the header is
there, and the page's own scripts, styles, htmx and Chart.js run without a violation
(the `page` fixture fails a test on any CSP report in the console)."""

import pytest

from tests.factories import UserFactory
from tests.hub.factories import make_repo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAIN_PAGES = [
    "/", "/hub/", "/hub/new/", "/hub/model/alice/tiny/", "/hub/model/alice/tiny/upload/", "/files/", "/files/public/",
    "/registry/", "/images/", "/training/", "/evaluation/", "/serving/", "/serving/playground/", "/sgt/",
    "/sgt/shared/", "/chat/", "/experiments/", "/experiments/history/", "/accounts/profile/",
]


def log_in(page, url, username, password):
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def assert_strict_policy(response):
    policy = response.headers.get("content-security-policy", "")
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'",
                      "form-action 'self'"):
        assert directive in policy, (response.url, policy)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    # Only our origin, plus this response's nonce where the page has an inline script.
    assert directives["script-src"].split()[0] == "'self'"
    assert all(s.startswith("'nonce-") for s in directives["script-src"].split()[1:]), policy
    assert "unsafe-eval" not in policy


def test_main_pages_run_under_the_policy(page, live_server, user, password):
    make_repo(user, "tiny", files={"README.md": b"# Tiny\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n", "config.json": b"{}"})
    log_in(page, live_server.url, user.username, password)
    for path in MAIN_PAGES:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert_strict_policy(response)
        page.wait_for_load_state("networkidle")
    assert page.js_errors == []
    assert page.csp_violations == []


def test_the_pages_own_script_still_works(page, live_server, user, password):
    """An inline script with the nonce runs (the hub's create form), a confirm goes through
    crucible.js (data-confirm instead of onsubmit)."""
    log_in(page, live_server.url, user.username, password)
    page.goto(live_server.url + "/hub/new/")
    page.fill("#id_name", "made-in-browser")
    assert page.locator("#id_task").get_attribute("list") == "vocab-task"  # set by the page's nonce'd script
    page.click("main form button[type=submit]")
    page.wait_for_url("**/hub/model/alice/made-in-browser/")
    assert page.locator("[data-testid=repo-name]").inner_text() == "alice/made-in-browser"


def test_swagger_ui_and_admin_run_under_the_policy(page, live_server, password):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    response = page.goto(live_server.url + "/api/docs/")
    assert_strict_policy(response)
    page.wait_for_selector(".swagger-ui .information-container", timeout=20_000)
    # With this many operations Swagger UI renders only those near the viewport (a virtual
    # list): the first ones now, the last ones once scrolled to.
    page.wait_for_selector(".opblock", timeout=20_000)
    for _ in range(60):
        if page.locator(".opblock-summary-path", has_text="/v1/embeddings").count():
            break
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(100)
    assert page.locator(".opblock-summary-path", has_text="/v1/embeddings").count() == 1
    response = page.goto(live_server.url + "/admin/login/")
    assert_strict_policy(response)
    page.fill("#id_username", "root")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    page.goto(live_server.url + "/admin/accounts/user/")
    page.wait_for_load_state("networkidle")
    assert page.js_errors == []
