"""The hub in a real browser: filter the browse page, open a repository, upload a file
that then appears in its tree."""

import pytest

from hub.models import Repository

from .factories import make_repo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, url, user, password):
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def test_filter_open_and_upload(page, live_server, user, other_user, password, tmp_path):
    url = live_server.url
    make_repo(other_user, "bert-ner", tags={"task": ["Token Classification"], "language": ["English"]})
    make_repo(other_user, "yolos-tiny", tags={"task": ["Object Detection"]})
    make_repo(user, "tiny-gpt2", tags={"task": ["Text Generation"]}, files={"config.json": b"{}"})
    log_in(page, url, user, password)

    page.goto(url + "/hub/")
    assert page.locator("[data-testid=repo]").count() == 3
    # Filter by a task facet: htmx swaps the list in place and the URL follows.
    page.locator("[data-testid=facet][data-name='Object Detection']").click()
    page.wait_for_url("**/hub/?task=Object+Detection")
    page.wait_for_function("document.querySelectorAll('[data-testid=repo]').length === 1")
    assert page.locator("#hub-total").inner_text().startswith("1 ")
    assert page.locator(".tag.active").inner_text().startswith("Object Detection")
    # Clear it and search by name instead.
    page.get_by_text("Clear filters").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=repo]').length === 3")
    page.fill("#hub-q", "gpt2")
    page.wait_for_function("document.querySelectorAll('[data-testid=repo]').length === 1")
    page.screenshot(path=str(tmp_path / "browse.png"), full_page=True)

    # Open the repository.
    page.get_by_role("link", name="alice/tiny-gpt2").click()
    page.wait_for_url(url + "/hub/model/alice/tiny-gpt2/")
    assert page.locator("[data-testid=repo-name]").inner_text() == "alice/tiny-gpt2"
    assert page.locator("[data-testid=file-row][data-path='config.json']").is_visible()

    # Upload a file through the page's progress-bar form.
    page.locator("[data-testid=upload-link]").click()
    notes = tmp_path / "notes.txt"
    notes.write_text("hello from the browser\n")
    page.set_input_files("#upload-files", str(notes))
    page.fill("#upload-path", "docs")
    page.fill("#upload-message", "Add notes from the browser")
    page.click("#upload-submit")
    page.wait_for_url(url + "/hub/model/alice/tiny-gpt2/?path=docs")
    row = page.locator("[data-testid=file-row][data-path='docs/notes.txt']")
    assert row.is_visible() and "23\xa0bytes" in row.inner_text()
    assert "Add notes from the browser" in page.locator("#revisions").inner_text()
    page.screenshot(path=str(tmp_path / "repository.png"), full_page=True)
    assert Repository.objects.get(full_name="alice/tiny-gpt2").last_message == "Add notes from the browser"
    assert page.js_errors == []
