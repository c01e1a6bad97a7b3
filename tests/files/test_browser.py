"""The file-space page in a real browser: log in, make a folder, upload, list, download."""

import pytest

from files import selectors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, url, user, password):
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(url + "/accounts/profile/")


def row(page, name):
    return page.locator(f"[data-testid=file-row][data-name='{name}']")


def test_make_folder_upload_list_download(page, live_server, user, password, tmp_path):
    url = live_server.url
    log_in(page, url, user, password)
    page.goto(url + "/files/")
    assert page.locator("[data-testid=tab-private]").get_attribute("class") == "active"

    page.fill("[data-testid=mkdir-name]", "Data")
    page.click("[data-testid=mkdir-submit]")
    row(page, "Data").wait_for()
    page.click("[data-testid=file-row][data-name='Data'] a")
    page.wait_for_url(url + "/files/private/Data")

    sample = tmp_path / "sample.txt"
    sample.write_bytes(b"measured: 42\n" * 1000)
    page.set_input_files("[data-testid=upload-files]", str(sample))
    page.click("[data-testid=upload-submit]")
    row(page, "sample.txt").wait_for()
    assert page.locator("[data-testid=upload-message]").inner_text() == "Uploaded 1 file."
    assert page.locator("#upload-progress").evaluate("el => el.value") == 100
    assert "12.7\xa0KB" in row(page, "sample.txt").inner_text()

    # A whole folder keeps its relative paths.
    folder = tmp_path / "train"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.jsonl").write_text('{"text": "a"}\n')
    page.set_input_files("[data-testid=upload-folder]", str(folder))
    page.click("[data-testid=upload-submit]")
    row(page, "train").wait_for()
    with selectors.open_file(user, "private", "Data/train/part/a.jsonl") as handle:
        assert handle.read() == b'{"text": "a"}\n'

    with page.expect_download() as info:
        row(page, "sample.txt").locator("[data-testid=download]").click()
    download = info.value
    assert download.suggested_filename == "sample.txt"
    assert open(download.path(), "rb").read() == sample.read_bytes()

    # Rename through the prompt, delete through the confirmation.
    page.once("dialog", lambda dialog: dialog.accept("renamed.txt"))
    row(page, "sample.txt").get_by_role("button", name="Rename").click()
    row(page, "renamed.txt").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "train").get_by_role("button", name="Delete").click()
    row(page, "train").wait_for(state="detached")
    assert [n.name for n in selectors.list_folder(user, "private", "Data")] == ["renamed.txt"]
    assert page.js_errors == []
