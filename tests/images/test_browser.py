"""The images page in Chromium: choose a tarball, watch the upload progress, land on the image page
and see the tag turn ready once the worker has verified it."""

import pytest

from images.builders import build_docker_save, demo_files
from tests.files.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_import_a_tarball_from_the_page_with_progress(page, live_server, celery_worker, user, password, tmp_path):
    data, details = build_docker_save(demo_files())
    tarball = tmp_path / "server.tar"
    tarball.write_bytes(data)
    url = live_server.url
    log_in(page, url, user, password)
    page.goto(url + "/images/")
    page.fill("#id_name", "lab/server")
    page.fill("#id_tag", "1.0")
    page.set_input_files("#id_tarball", str(tarball))
    page.click("[data-testid=image-import-form] button[type=submit]")
    page.wait_for_url(url + "/images/*/")
    assert page.locator("h1").inner_text().startswith("lab/server")
    # The tags panel polls while the worker imports; the digest appears once it is verified.
    page.get_by_text(details["config_digest"]).wait_for(timeout=60_000)


def test_an_unfit_file_shows_the_error_on_the_form(page, live_server, user, password, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    url = live_server.url
    log_in(page, url, user, password)
    page.goto(url + "/images/")
    page.fill("#id_name", "lab/notes")
    page.set_input_files("#id_tarball", str(notes))
    page.click("[data-testid=image-import-form] button[type=submit]")
    page.get_by_text("choose a .tar, .tar.gz or .tgz file").wait_for()
    assert page.url == url + "/images/"
