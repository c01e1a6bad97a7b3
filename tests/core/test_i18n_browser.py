"""The language switcher in a real Chromium: an English browser switches the site to
Simplified Chinese from the navigation (a plain form, no script), walks the main pages in
Chinese under the Content-Security-Policy, and switches back."""

from datetime import timedelta

import pytest
from django.utils import timezone

from images import services as image_services
from images.models import ImageStatus, ImageTag
from tests.evaluation.factories import EvaluationTaskFactory
from tests.hub.factories import make_repo
from training.models import LlmTask

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
    image = image_services.create_image(owner=user, name="crucible/serve", labels=[], overview="")
    ImageTag.objects.create(image=image, tag="1.0", file_url="Image/serve.tar", status=ImageStatus.SUCCESS, size=10)
    tune = LlmTask.objects.create(owner=user, name="tune-1", model_source="files", model_ref="Model",
                                  data_source="files", data_ref="Data", status="succeeded", total_steps=4, current_step=4)
    now = timezone.now()
    evaluation = EvaluationTaskFactory(owner=user, name="eval-1", status="succeeded", results={"perplexity": 12.5},
                                       started_at=now - timedelta(seconds=3281), finished_at=now)
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
    # Pages whose scripts take their words from the page: the run's status, steps and chart.
    page.goto(f"{live_server.url}/images/{image.uid}/")
    assert page.locator("[data-status='1']").first.inner_text() == "就绪"  # the spec's 成功, as a page label
    page.goto(f"{live_server.url}/training/tasks/{tune.pk}/")
    page.wait_for_function("() => document.getElementById('steps').textContent.includes('步')")
    assert page.locator("#status").inner_text() == "成功"
    assert page.evaluate("Chart.getChart('loss-chart').data.datasets[0].label") == "训练损失"
    page.goto(f"{live_server.url}/evaluation/tasks/{evaluation.pk}/")
    assert page.locator("[data-testid=run-time]").inner_text() == "运行时长 54分41秒"
    assert page.locator("#status").inner_text() == "成功"
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
