"""The language switcher in a real Chromium: an English browser switches the site to
Simplified Chinese from the navigation (a plain form, no script), walks the main pages in
Chinese under the Content-Security-Policy, and switches back."""

import pytest

from tests.hub.factories import make_repo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (path, the page's heading in Chinese, and in English)
WALK = [
    ("/hub/", "模型与数据集", "Models and datasets"),
    ("/hub/model/alice/tiny/upload/", "上传到", "Upload to"),
    ("/files/", "文件", "Files"),
    ("/registry/", "模型注册表", "Model registry"),
    ("/images/", "镜像", "Images"),
    ("/training/", "训练", "Training"),
    ("/evaluation/", "评测", "Evaluation"),
    ("/evaluation/compare/", "对比评测", "Compare evaluations"),
    ("/experiments/history/", "实验运行记录", "Experiment runs"),
    ("/sgt/", "我的 SGT 模型", "My SGT models"),
]


def test_switch_to_chinese_walk_the_site_and_switch_back(page, live_server, user, password):
    make_repo(user, "tiny", files={"README.md": b"# Tiny\n"})
    page.goto(live_server.url + "/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "en"  # the context's browser is en-US
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()

    page.goto(live_server.url + "/hub/")
    assert page.locator("h1").inner_text() == "Models and datasets"
    page.click("[data-testid=language-zh-hans]")
    page.wait_for_load_state()
    assert page.url == live_server.url + "/hub/"  # back on the same page, same URL
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("nav.site-nav").inner_text().count("模型中心") == 1
    assert page.locator("[data-testid=logout]").inner_text() == "退出登录"

    for path, chinese, _english in WALK:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert chinese in page.locator("h1").inner_text(), path
        page.wait_for_load_state("networkidle")
    # The upload page's script reads its words from Django's JavaScript catalog.
    page.goto(live_server.url + "/hub/model/alice/tiny/upload/")
    assert page.evaluate("gettext('Committing')") == "正在提交"
    page.click("#upload-submit")  # nothing chosen: the script says so, in Chinese
    assert page.locator("#upload-text").inner_text() == "请先选择文件或文件夹。"

    page.click("[data-testid=language-en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    for path, _chinese, english in WALK[:3]:
        page.goto(live_server.url + path)
        assert english in page.locator("h1").inner_text(), path
    assert page.js_errors == []
