"""The serving pages in a real Chromium, in Chinese, under the Content-Security-Policy: deploy from a
registry version's link, a bad canary weight shown on the form, and the live part following the
version by itself (htmx polling) until nothing is left to wait for."""

import pytest
from django.conf import settings

from serving.models import ModelService, ServiceVersion

from .conftest import register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_in_chinese(page, live_server, user, password):
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans", "url": live_server.url}])
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def test_deploy_from_the_registry_link_in_chinese(page, live_server, user, password, tiny_gpt2_dir):
    version = register(user, "tiny-app", tiny_gpt2_dir)
    sign_in_in_chinese(page, live_server, user, password)

    page.goto(live_server.url + f"/registry/{version.application.uid}/")
    page.click("[data-testid=action-deploy]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("[data-testid=new-service] summary").inner_text() == "新建服务"
    assert page.input_value("#id_version") == f"tiny-app {version.version} ({version.uid})"
    assert page.input_value("#id_name") == "tiny-app"
    assert page.locator("#registry-versions option").count() == 1
    page.fill("#id_max_replicas", "2")
    page.click("[data-testid=deploy]")
    page.wait_for_load_state()

    service = ModelService.objects.get(owner=user, name="tiny-app")
    assert page.url == f"{live_server.url}/serving/{service.uid}/"
    live = page.locator("[data-testid=service-live]")
    assert "部署中" in live.inner_text() and live.get_attribute("hx-get") == f"/serving/{service.uid}/live"

    # A canary weight of 101 stays on the page, said in Chinese on the form.
    page.fill("#id_canary-version", version.uid)
    page.fill("#id_canary-rate", "101")
    page.click("[data-testid=add-version]")
    page.wait_for_load_state()
    assert page.locator("#id_canary-rate_errors").inner_text().strip().startswith("确保")
    assert service.versions.count() == 1

    # The deploy finishes (as the serving worker would mark it): the live part shows it without a reload.
    ServiceVersion.objects.filter(service=service).update(status="running", desired_replicas=1)
    page.wait_for_function(
        "() => { const live = document.querySelector('[data-testid=service-live]');"
        " return live && !live.hasAttribute('hx-get') && live.innerText.includes('运行中'); }",
        timeout=15_000,
    )
    assert not page.js_errors
