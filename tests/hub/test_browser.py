"""The hub in a real browser: filter the browse page, open a repository, upload a file
that then appears in its tree."""

import hashlib
import os

import pytest

from hub.models import Repository, TreeEntry

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
    page.wait_for_function("() => document.querySelectorAll('[data-testid=repo]').length === 1")
    assert page.locator("#hub-total").inner_text().startswith("1 ")
    assert page.locator(".tag.active").inner_text().startswith("Object Detection")
    # Clear it and search by name instead.
    page.get_by_text("Clear filters").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=repo]').length === 3")
    page.fill("#hub-q", "gpt2")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=repo]').length === 1")
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


def test_a_large_upload_goes_on_after_the_connection_drops(page, live_server, user, password, tmp_path, settings):
    """A 12 MB file is hashed in the page and sent in 1 MiB parts through the LFS batch API; the
    third part's connection is cut once: the page asks the server again, sends only the parts it
    lacks, and the commit holds the exact bytes (with a small file inline beside it)."""
    settings.HUB_LFS_PART_BYTES = 1024 * 1024
    url = live_server.url
    make_repo(user, "big-model", files={"config.json": b"{}"})
    weights = tmp_path / "model.safetensors"
    content = os.urandom(12 * 1024 * 1024 + 12345)
    weights.write_bytes(content)
    readme = tmp_path / "README.md"
    readme.write_text("# Big model\n")
    log_in(page, url, user, password)

    sent, cut = [], []

    def cut_part_three_once(route):
        if not cut:
            cut.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.on("request", lambda request: sent.append(request.url) if request.method == "PUT" else None)
    page.route("**/api/hub/lfs/*/part/3", cut_part_three_once)
    page.goto(url + "/hub/model/alice/big-model/upload/")
    page.set_input_files("#upload-files", [str(weights), str(readme)])
    page.fill("#upload-message", "Add weights")
    page.click("#upload-submit")
    page.wait_for_function("() => document.getElementById('upload-note').textContent.includes('resuming')")
    page.wait_for_url(url + "/hub/model/alice/big-model/", timeout=60_000)

    repo = Repository.objects.get(full_name="alice/big-model")
    assert repo.last_message == "Add weights"
    entry = TreeEntry.objects.get(commit=repo.head, path="model.safetensors")
    assert entry.blob.sha256 == hashlib.sha256(content).hexdigest() and entry.blob.size == len(content)
    assert TreeEntry.objects.get(commit=repo.head, path="README.md").blob.size == len("# Big model\n")
    parts = [u.rsplit("/", 1)[1] for u in sent if "/part/" in u]
    assert len(cut) == 1 and parts.count("3") == 2  # cut, then sent again
    assert parts.count("1") == parts.count("2") == 1  # stored before the cut: not sent again
    assert sorted(set(parts), key=int) == [str(n) for n in range(1, 14)]
    assert page.js_errors == []


# Every way a model card has been seen to smuggle script: entity-encoded and mixed-case
# schemes, reference links, raw HTML, data: and vbscript: URLs, event handlers, <script>.
XSS_CARD = """---
pipeline_tag: text-generation
---
# Evil card

[entity decimal](javascript&#58;window.__xss=1)
[entity named](javascript&colon;window.__xss=2)
[entity hex](javascript&#x3a;window.__xss=3)
[entity letter](&#106;avascript:window.__xss=4)
[mixed case](JaVaScRiPt:window.__xss=5)
[tab inside](java\tscript:window.__xss=6)
[reference][evil] and [other reference][evil2]
[data url](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9Nzwvc2NyaXB0Pg==)
[vbscript](vbscript:msgbox(8))
![image](javascript:window.__xss=9)
<https://example.org/safe> and [fine](https://example.org/docs) and [relative](docs/usage.md)

<a href="javascript:window.__xss=10">raw anchor</a>
<img src=x onerror="window.__xss=11">
<svg onload="window.__xss=12"></svg>
<script>window.__xss=13</script>
<iframe src="javascript:window.__xss=14"></iframe>
<div onmouseover="window.__xss=15">hover</div>
<a href="data:text/html,<script>window.__xss=16</script>">raw data</a>
<object data="javascript:window.__xss=17"></object>

    <script>window.__xss=18</script>

```html
<script>window.__xss=19</script>
```

[evil]: javascript&#58;window.__xss=20
[evil2]: VBScript:msgbox(21)
"""


def test_a_hostile_model_card_renders_inert(page, live_server, user, other_user, password):
    make_repo(other_user, "evil", files={"README.md": XSS_CARD.encode()})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server.url, user, password)

    response = page.goto(live_server.url + "/hub/model/bob/evil/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy and "object-src 'none'" in policy
    assert "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy
    card = page.locator("[data-testid=model-card]")
    assert card.is_visible()
    assert "Evil card" in card.inner_text()

    # No link or image may point anywhere but http(s), mailto or a relative URL.
    urls = page.evaluate(
        """() => [...document.querySelectorAll('a[href], img[src], iframe, object, embed, svg, script:not([src])')]
                 .map(e => e.tagName + ' ' + (e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('data') || ''))"""
    )
    dangerous = [u for u in urls if any(s in u.lower().replace("\t", "") for s in ("javascript:", "data:", "vbscript:"))]
    assert not dangerous, dangerous
    card_tags = page.evaluate("() => [...document.querySelectorAll('[data-testid=model-card] *')].map(e => e.tagName.toLowerCase())")
    assert not {"script", "svg", "iframe", "object", "embed"} & set(card_tags)
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    assert "https://example.org/docs" in hrefs and "https://example.org/safe" in hrefs
    # The raw HTML is shown as text, not interpreted.
    assert '<img src=x onerror="window.__xss=11">' in card.inner_text()

    # Click every link of the card that has no safe scheme: none may run script.
    for link in card.locator("a").all():
        href = link.get_attribute("href")
        if href is None:
            link.click()
    page.wait_for_timeout(300)
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert dialogs == []
    assert page.js_errors == []


def test_the_hub_fits_a_390_pixel_phone(page, live_server, user, other_user, password):
    make_repo(other_user, "a-model-with-a-rather-long-name-for-a-phone", tags={"task": ["Text Generation"]},
              files={"config.json": b"{}", "README.md": b"# Card\n\n" + b"word " * 200})
    log_in(page, live_server.url, user, password)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/hub/", "/hub/model/bob/a-model-with-a-rather-long-name-for-a-phone/"):
        page.goto(live_server.url + path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
    assert page.js_errors == []
